"""Demo staff accounts for ``make run``: one user per group, named after it, password ``<name>123``
(``account_manager`` / ``account_manager123`` … ``admin`` / ``admin123``). Idempotent: existing users are left as
they are (their password too). For demonstrations only — never on a production database.
"""

from __future__ import annotations

import sys

from sqlalchemy.orm import Session, sessionmaker

from runner import accounts, schema
from runner.clock import SystemClock
from runner.environment import Environment

DEMO_NAMES = {
    "account_manager": "客户经理（演示）", "surveyor": "勘查人员（演示）", "plan_reviewer": "方案审核（演示）",
    "inspector": "检验人员（演示）", "installer": "装表接电（演示）", "archivist": "归档人员（演示）",
    "followup_agent": "回访人员（演示）", "supervisor": "营销主管（演示）", "analyst": "流程分析（演示）",
    "process_owner": "流程负责人（演示）", "admin": "系统管理员（演示）",
}


def demo_password(group: str) -> str:
    return f"{group}123"


def ensure_demo_users(sessions: sessionmaker[Session], password_method: str = "scrypt") -> list[tuple[str, bool]]:
    """Create the demo users that do not exist yet; (user name, created) per group."""
    result = []
    now = SystemClock().now()
    with sessions.begin() as session:
        for group in accounts.GROUPS:
            exists = accounts.get_account_by_name(session, group) is not None
            if not exists:
                accounts.create_user(session, group, demo_password(group), now, display_name=DEMO_NAMES[group],
                                     groups=(group,), password_method=password_method)
            result.append((group, not exists))
    return result


def print_demo_users(created: list[tuple[str, bool]]) -> None:
    print("demo users (user name / password) — for demonstrations only:")
    for name, was_created in created:
        print(f"  {name:<16} / {demo_password(name):<20} {DEMO_NAMES[name]}{'  (created)' if was_created else ''}")


def main() -> int:
    env = Environment.from_env()
    schema.upgrade(env.url)
    print_demo_users(ensure_demo_users(env.sessions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
