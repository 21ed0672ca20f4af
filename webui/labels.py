"""Chinese names (translatable) of the codes the process uses: groups, customer categories, case states, event
kinds, notification channels and templates. Step names come from the BPMN itself."""

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

CASE_EVENT_LABELS = {
    "cancelled": _l("撤销"),
    "suspended": _l("挂起"),
    "running": _l("恢复办理"),
}
"""Events of the case as a whole, named as the buttons that cause them (a task's ``cancelled`` is 取消: withdrawn
by a timer or the other branch of a race; the case's is 撤销, as the button and its status 已撤销 say)."""

EVENT_DATA_LABELS = {
    "reason": _l("原因"),
    "closed_incidents": _l("关闭的异常"),
    "resolved_incidents": _l("已解决的异常"),
    "due_at": _l("办理时限"),
    "from": _l("原流程版本"),
    "to": _l("新流程版本"),
    "from_hash": _l("原版本摘要"),
    "to_hash": _l("新版本摘要"),
}
"""Keys of the data the engine and the runner put on events (task results are labelled by their forms)."""

INCIDENT_LIST_KEYS = ("closed_incidents", "resolved_incidents")
"""Event data keys holding incident ids (shown as ``#3``)."""

CHANNEL_LABELS = {
    "sms": _l("短信"),
    "email": _l("电子邮件"),
    "webhook": _l("接口推送"),
    "log": _l("日志"),
}

TEMPLATE_LABELS = {
    "application_rejected": _l("不予受理通知"),
    "plan_rejected": _l("方案否决通知"),
    "plan_expiry_reminder": _l("方案即将到期提醒"),
    "plan_expired": _l("方案失效通知"),
    "sla_breach": _l("超时督办通知"),
    "supervision_overdue": _l("督办逾期通知"),
    "followup_survey": _l("客户评价邀请"),
    "followup_reminder": _l("回访提醒"),
    "rectification_overdue": _l("整改逾期通知"),
    "payment_discrepancy": _l("缴费异常通知"),
}
"""The notification templates the processes use (``id="template"`` in processes/*.bpmn); others show as their id."""


def label(table: dict[str, object], code: str | None) -> str:
    """The label of ``code`` in ``table``; the code itself when unknown, a dash when empty."""
    if not code:
        return "—"
    return str(table.get(code, code))
