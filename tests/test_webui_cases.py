"""Case detail: status, summary, open tasks, the steps so far and the timeline from the event log."""

from __future__ import annotations

from pathlib import Path

from runner import migration
from tests.db import advance_to, drive_case_to_end
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
