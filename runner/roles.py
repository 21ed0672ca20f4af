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


ROLE_NAMES_EN: dict[str, str] = {
    "account_manager": "Account manager",
    "surveyor": "Surveyor",
    "plan_reviewer": "Plan reviewer",
    "inspector": "Inspector",
    "installer": "Installer",
    "archivist": "Archivist",
    "followup_agent": "Follow-up agent",
    "supervisor": "Supervisor",
    "analyst": "Process analyst",
    "process_owner": "Process owner",
    "admin": "Administrator",
    "customer": "Customer",
}
"""The same in English, for text the runner writes in both languages (the simulator's verdicts); a test keeps them
equal to the web UI's English catalogue."""


def role_name(role: object) -> object:
    """The display name of a role id; anything else (an unknown id, an empty value) as it is."""
    return ROLE_NAMES.get(role, role) if isinstance(role, str) else role
