"""The Chinese display names of the staff groups (lane roles and functions) and of the customer lane's role.

The one place the runner knows them (e.g. the ``role_name`` filter of task instructions); the web UI's translatable
``GROUP_LABELS`` (webui/labels.py) carry the same names as msgids, which a test keeps equal to these."""

from __future__ import annotations

ROLE_NAMES: dict[str, str] = {
    "account_manager": "客户经理",
    "surveyor": "勘查人员",
    "plan_reviewer": "方案审核",
    "inspector": "检验人员",
    "installer": "装表接电",
    "archivist": "归档人员",
    "followup_agent": "回访人员",
    "supervisor": "营销主管",
    "analyst": "流程分析",
    "process_owner": "流程负责人",
    "admin": "系统管理员",
    "customer": "客户",
}


def role_name(role: object) -> object:
    """The display name of a role id; anything else (an unknown id, an empty value) as it is."""
    return ROLE_NAMES.get(role, role) if isinstance(role, str) else role
