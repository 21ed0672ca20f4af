"""Case detail: status, summary, open tasks, the steps so far and the timeline from the event log."""

from __future__ import annotations

import re
from pathlib import Path

from runner import migration
from tests.db import advance_to, drive_case_to_end, start
from tests.test_migration import deploy_folder, deployed_files, with_double_check
from tests.webui_helpers import (
    Web,
    start_case,
    task_of,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)


def test_case_detail_shows_status_tasks_steps_and_timeline(web: Web) -> None:
    number = start_case(web.db, customer_name="示例科技有限公司")
    advance_to(web.db, number, "site_survey")
    task = task_of(web.db, number, "site_survey")
    client = web.client("surveyor")
    response = client.get(f"/cases/{number}")
    assert response.status_code == 200
    page = text_of(response)
    assert f"案件 {number} 办理中" in page and "示例科技有限公司" in page and "高压普通" in page
    assert "当前待办 现场勘查 勘查人员 办理人：待领取" in page
    assert "业务受理 已完成" in page and "现场勘查 办理中" in page  # the steps list
    assert "办理时限（工作日）" in page  # the summary
    html = response.get_data(as_text=True)
    assert f'href="/tasks/{task}"' in html and f"/tasks/{task}/assign" not in html
    assert "account_manager.1" in page  # who completed the acceptance (timeline)
    assert "完成" in page and "待办" in page
    supervisor = web.client("supervisor").get(f"/cases/{number}").get_data(as_text=True)
    assert f"/tasks/{task}/assign" in supervisor and f'href="/tasks/{task}"' not in supervisor


def test_a_completed_case(web: Web) -> None:
    number = start_case(web.db, "lv_residential")
    drive_case_to_end(web.db, number)
    page = text_of(web.client("archivist").get(f"/cases/{number}"))
    assert "已办结" in page and "当前没有待办任务" in page and "办结时间" in page


def test_the_case_page_shows_its_version_and_a_migration_in_words(web: Web, tmp_path: Path) -> None:
    number = start_case(web.db, "lv_other")
    new = deploy_folder(web.db, with_double_check(deployed_files(web.db, tmp_path / "v1"), tmp_path / "v2"))
    [outcome] = migration.migrate_cases(web.db.sessions, web.db.runtime, str(new.id), user="analyst.1")
    assert outcome.result == "migrated", outcome.reason

    page = text_of(web.client("supervisor").get(f"/cases/{number}"))

    assert f"流程版本 {new.id}" in page
    assert f"整个案件 迁移版本 — analyst.1 流程版本 {web.db.version_id} → {new.id}" in page


def section(html: str, heading: str) -> str:
    """The visible text of the card whose heading is ``heading``."""
    start = html.index(f"<h2>{heading}</h2>")
    card = html[start:html.index("</section>", start)]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card)).strip()


RAW_APPLICATION = ("id_card", "non_residential", "small_micro", "identity", "business_licence", "True", "False",
                   "unit_kw", "demand_factor", "power_factor", "customer_type", "equipment")
RAW_SUMMARY = ("energize_ready", "energized", "items", "currency", "zero_investment", "waived", "temporary_connection",
               "statute", "regime", "dual_supply", "True", "False", "hv_ordinary", "supply_voltage_kv", "cost_cny",
               "customer_held_periods", "in_progress", "reason", "basis")


def test_the_application_and_the_summary_in_the_forms_words(web: Web) -> None:
    number = start(web.db, "hv_ordinary", dual_supply=True, id_type="id_card", id_number="110101199003071233",
                   important_customer=False)
    drive_case_to_end(web.db, number, {"draft_plan": {"supply_points": 2}})  # granted: billed (decision 103)
    client = web.client("supervisor")
    html = client.get(f"/cases/{number}").get_data(as_text=True)

    application = section(html, "申请信息")
    assert "证件类型 居民身份证" in application and "客户类型 非居民" in application
    assert "企业规模 其他企业" in application
    assert "重要电力用户 否" in application and "双电源 是" in application  # the form's own titles of true/false
    assert "已提供资料 身份证明、" in application
    assert ("用电设备清单 设备名称 台数 单台额定功率（kW） 需要系数 Kd 功率因数 cosφ 数控机床 20 25 0.7 0.8"
            in application)  # the rows under the item's titles
    assert "证件号码 110***********1233" in application and "110101199003071233" not in application  # masked
    assert not [raw for raw in RAW_APPLICATION if re.search(rf"\b{raw}\b", application)]

    summary = section(html, "案件摘要")
    assert "关键时间" in summary and "具备装表条件" in summary and "送电" in summary
    assert "收费项目 名称 金额（元） 计费依据 高可靠性供电费" in summary
    assert "免收费用 名称 原因 临时接电费 自2017年12月1日起取消" in summary
    assert "币种 人民币" in summary and "零投资（“三零”服务） 否" in summary
    assert "时限口径 法定时限（供电监管办法）" in summary and "双电源 是" in summary
    assert "客户类别 高压普通" in summary
    assert not [raw for raw in RAW_SUMMARY if re.search(rf"\b{raw}\b", summary)]

    client.get("/auth/language/en")
    english = client.get(f"/cases/{number}").get_data(as_text=True)
    summary = section(english, "Case summary")
    assert "Ready for metering" in summary and "Charges Name Amount (CNY) Basis" in summary
    assert "Currency CNY" in summary and "Dual supply Yes" in summary and "Waived fees Name Reason" in summary
    assert "Time-limit regime" in summary
    assert not [raw for raw in RAW_SUMMARY if raw != "regime" and re.search(rf"\b{raw}\b", summary)]
    application = section(english, "Application")
    assert "证件类型 居民身份证" in application  # the form's texts stay as modelled
