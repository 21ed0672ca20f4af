"""What a case waits for besides its open tasks (``runner.case_queries.waiting_steps``), in words: where a message
comes from, for the staff case page; and the portal's short note to the customer."""

from __future__ import annotations

from runner.case import CUSTOMER_ROLE
from runner.case_queries import WaitingStep

from ..i18n import _, _l

MESSAGE_SOURCES = {
    "payment_confirmed": _l("营销收费系统（客户缴费到账后发送）"),
    "meter_online": _l("用电信息采集系统（表计安装送电后上线时发送）"),
}
"""Who sends each message of the process (``baozhuang message`` and ``POST /api/v1/cases/{n}/messages`` deliver
one by hand); a message not named here comes from the customer (in the customer lane) or another system."""


def message_source(step: WaitingStep) -> str:
    """Where the message a step waits for comes from (营销收费系统…, 客户, 外部系统)."""
    known = MESSAGE_SOURCES.get(step.message or "")
    if known is not None:
        return str(known)
    return _("客户") if step.lane == CUSTOMER_ROLE else _("外部系统")


def customer_note(step: WaitingStep) -> str:
    """The portal's note under a step the case waits at: whether the customer has something to do."""
    if step.kind == "timer":
        return _("到期后自动进入下一环节。")
    if step.lane == CUSTOMER_ROLE:
        return _("请按通知办理，确认后自动进入下一环节。")
    return _("由供电公司确认，无需您操作。")
