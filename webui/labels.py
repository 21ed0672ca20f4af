"""Chinese names (translatable) of the codes the process uses: groups, customer categories, case states, event
kinds. Step names come from the BPMN itself."""

from __future__ import annotations

from .i18n import _l

GROUP_LABELS = {
    "account_manager": _l("客户经理"),
    "surveyor": _l("勘查人员"),
    "plan_reviewer": _l("方案审核"),
    "inspector": _l("检验人员"),
    "installer": _l("装表接电"),
    "archivist": _l("归档人员"),
    "followup_agent": _l("回访人员"),
    "supervisor": _l("营销主管"),
    "analyst": _l("流程分析"),
    "process_owner": _l("流程负责人"),
    "admin": _l("系统管理员"),
    "customer": _l("客户"),
}

REGIME_LABELS = {"statute": _l("法定时限（供电监管办法）"), "sgcc_commitment": _l("国网服务承诺"),
                 "sgcc_internal": _l("国网内部考核"), "csg": _l("南方电网")}

CATEGORY_LABELS = {
    "lv_residential": _l("低压居民"),
    "lv_smallmicro": _l("低压小微企业"),
    "lv_other": _l("低压其他"),
    "hv_ordinary": _l("高压普通"),
    "hv_important": _l("高压重要"),
}

CASE_STATUS_LABELS = {
    "running": _l("办理中"),
    "completed": _l("已办结"),
    "cancelled": _l("已撤销"),
    "suspended": _l("已挂起"),
}

LIFECYCLE_LABELS = {
    "enabled": _l("待办"),
    "started": _l("开始办理"),
    "unclaimed": _l("退回待领取"),
    "assigned": _l("指派"),
    "completed": _l("完成"),
    "cancelled": _l("取消"),
    "failed": _l("执行失败"),
    "retried": _l("人工重试"),
    "fired": _l("时限到期"),
    "escalated": _l("督办"),
    "suspended": _l("挂起"),
    "running": _l("恢复"),
    "migrated": _l("迁移版本"),
}


def label(table: dict[str, object], code: str | None) -> str:
    """The label of ``code`` in ``table``; the code itself when unknown, a dash when empty."""
    if not code:
        return "—"
    return str(table.get(code, code))
