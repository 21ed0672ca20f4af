"""``make run``: validate the model, show one in-memory case per category, and seed demo cases in the database.

Seeding is idempotent: demo cases have fixed numbers, and a case that exists is left as it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import select

from . import portal, schema
from .autopilot import advance
from .environment import Environment
from .models import Case as CaseRow
from .process_folder import load_process_folder
from .services import start_case
from .store import deploy
from .trial import TrialOptions, run_trial, sample_application

TRIAL_CASES = (
    ("lv_residential", False), ("lv_smallmicro", False), ("lv_other", False),
    ("hv_ordinary", False), ("hv_ordinary", True), ("hv_important", False),
)
# (case number, category, dual supply, stop when this task is open — None runs the case to its end)
DEMO_CASES = (
    ("DEMO-0001", "lv_residential", False, "accept_application"),
    ("DEMO-0002", "lv_smallmicro", False, "install_meter"),
    ("DEMO-0003", "lv_other", False, "review_plan"),
    ("DEMO-0004", "hv_ordinary", False, "completion_check"),
    ("DEMO-0005", "hv_ordinary", True, "sign_plan"),
    ("DEMO-0006", "hv_important", False, "review_design"),
    ("DEMO-0007", "lv_residential", False, None),
    ("DEMO-0008", "lv_residential", False, "customer_survey"),  # 回访: the customer may answer on the portal
)


def show_trials(folder: Path) -> None:
    bundle = load_process_folder(folder)
    print(f"process version {bundle.version[:12]} from {folder}")
    print(f"{'category':<24}{'steps run':>10}{'GE steps':>10}{'working days':>14}{'calendar days':>15}  result")
    for category, dual in TRIAL_CASES:
        result = run_trial(bundle, TrialOptions(category=category, dual_supply=dual))
        kpis = result.kpis
        label = category + (" (双电源)" if dual else "")
        print(f"{label:<24}{len(result.visited):>10}{kpis.get('steps', '-')!s:>10}"
              f"{kpis.get('working_days', '-')!s:>14}{kpis.get('calendar_days', '-')!s:>15}  "
              f"{'completed' if result.completed else 'NOT completed'}")


def seed(folder: Path, env: Environment) -> None:
    """Deploy the folder and create the demo cases that do not exist yet."""
    schema.upgrade(env.url)
    with env.sessions.begin() as session:
        version, created = deploy(session, env.runtime, folder, "demo")
        version_id = version.id
    print(f"{'deployed' if created else 'already deployed'}: version {version_id} ({version.version_hash[:12]})")
    bundle = load_process_folder(folder)
    for number, category, dual, until in DEMO_CASES:
        with env.sessions.begin() as session:
            exists = session.scalar(select(CaseRow.id).where(CaseRow.case_number == number)) is not None
            if not exists:
                start_case(session, env.runtime, sample_application(bundle, category, dual), "demo",
                           version_id=version_id, case_number=number)
        if not exists:
            advance(env.sessions, env.runtime, number, until=until)
        with env.sessions.begin() as session:
            row = session.scalar(select(CaseRow).where(CaseRow.case_number == number))
            assert row is not None
            code = portal.reset_access_code(session, number)  # a new one each start: only its hash is stored
            print(f"  {number}  {category:<16}{'双电源' if dual else '':<4} {row.status:<10}"
                  f"{'(existing)' if exists else '(created)'}  portal code {code[:5]}-{code[5:]}")


def main(folder: str = "processes") -> int:
    show_trials(Path(folder))
    seed(Path(folder), Environment.from_env())
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
