"""``make run``: validate the model, show one in-memory case per category, and seed demo cases in the database.

Seeding is idempotent: demo cases have fixed numbers, and a case that exists is left as it is. A new demo case is
built through the real runner on a virtual clock (``runner.demo_driver``): applied so many office hours before now
that its scripted steps, done by the demo users (``webui.demo_users``) during office hours, end where it waits now.
Most steps are done in time; DEMO-0003's supply plan is overdue (its 督办 handled) and DEMO-0007 filed its archive
late (a 督办 handled), so that the SLA pages show both kinds.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from . import portal, schema
from .clock import VirtualClock
from .delivery import registry_from_env
from .demo_driver import DemoCase, DemoDriver
from .demo_timing import working_hours_before
from .environment import Environment
from .models import Case as CaseRow
from .models import ProcessVersion
from .process_folder import ProcessBundle, load_process_folder
from .store import Runtime, deploy
from .trial import TrialOptions, run_trial, sample_application
from .worker import Worker

TRIAL_CASES = (
    ("lv_residential", False), ("lv_smallmicro", False), ("lv_other", False),
    ("hv_ordinary", False), ("hv_ordinary", True), ("hv_important", False),
)
DEMO_CASES = (
    # applied an hour and a half ago: 业务受理 open, in time
    DemoCase("DEMO-0001", "lv_residential", False, "accept_application", (), 1.5),
    # 三零: accepted with the contract, the utility builds to the red line, the meter to install
    DemoCase("DEMO-0002", "lv_smallmicro", False, "install_meter",
             (("accept_application", 3), ("grid_works", 20)), 6),
    # deliberately late: a slow survey and plan put 供电方案答复 past its 8 working days; the 督办 is handled
    DemoCase("DEMO-0003", "lv_other", False, "review_plan",
             (("accept_application", 2), ("site_survey", 44), ("draft_plan", 32)), 3),
    DemoCase("DEMO-0004", "hv_ordinary", False, "completion_check",
             (("accept_application", 3), ("site_survey", 16), ("draft_plan", 12), ("review_plan", 6),
              ("sign_plan", 16), ("report_completion", 80)), 8),
    DemoCase("DEMO-0005", "hv_ordinary", True, "sign_plan",
             (("accept_application", 2), ("site_survey", 24), ("draft_plan", 16), ("review_plan", 8)), 10),
    DemoCase("DEMO-0006", "hv_important", False, "review_design",
             (("accept_application", 2), ("site_survey", 20), ("draft_plan", 16), ("review_plan", 6),
              ("approve_high_risk", 4), ("sign_plan", 24), ("submit_design", 64)), 12),
    # completed; deliberately late: 资料归档 took six and a half working days of its five (a 督办 handled)
    DemoCase("DEMO-0007", "lv_residential", False, None,
             (("accept_application", 1.5), ("install_meter", 14), ("meter_online", 1), ("archive_documents", 52),
              ("followup_call", 6)), 20),
    # 回访: the customer may answer on the portal
    DemoCase("DEMO-0008", "lv_residential", False, "customer_survey",
             (("accept_application", 2), ("install_meter", 10), ("meter_online", 1), ("archive_documents", 12)), 4),
)
DEPLOYED_BEFORE_HOURS = 8.0
"""On a new database the demo's version is deployed this many office hours before the earliest demo case."""


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


def seed(folder: Path, env: Environment, now: datetime | None = None) -> None:
    """Deploy the folder and create the demo cases that do not exist yet, each ending by ``now`` (default: the
    environment's clock)."""
    now = now or env.runtime.clock.now()
    calendar = env.runtime.calendar
    starts = {demo.number: working_hours_before(now, demo.office_hours, calendar) for demo in DEMO_CASES}
    schema.upgrade(env.url)
    with env.sessions() as session:
        fresh = session.scalar(select(func.count()).select_from(ProcessVersion)) == 0
    before = working_hours_before(min(starts.values()), DEPLOYED_BEFORE_HOURS, calendar)
    deployment = Runtime(cache_dir=env.runtime.cache_dir, clock=VirtualClock(before if fresh else now),
                         calendar=calendar)  # a new database: deployed before its demo cases came in
    with env.sessions.begin() as session:
        version, created = deploy(session, deployment, folder, "demo")
        version_id = version.id
    print(f"{'deployed' if created else 'already deployed'}: version {version_id} ({version.version_hash[:12]})")
    bundle = load_process_folder(folder)
    with env.sessions() as session:
        existing = set(session.scalars(select(CaseRow.case_number).where(
            CaseRow.case_number.in_([demo.number for demo in DEMO_CASES]))))
    for demo in DEMO_CASES:
        if demo.number not in existing:
            build(env, demo, bundle, version_id, starts[demo.number], deployment)
        with env.sessions.begin() as session:
            row = session.scalar(select(CaseRow).where(CaseRow.case_number == demo.number))
            assert row is not None
            code = portal.reset_access_code(session, demo.number)  # a new one each start: only its hash is stored
            print(f"  {demo.number}  {demo.category:<16}{'双电源' if demo.dual_supply else '':<4} {row.status:<10}"
                  f"{'(existing)' if demo.number in existing else '(created)'}  portal code {code[:5]}-{code[5:]}")


def build(env: Environment, demo: DemoCase, bundle: ProcessBundle, version_id: int, start: datetime,
          shared: Runtime) -> None:
    """Build one demo case from ``start`` on a clock of its own (sharing the parsed versions of ``shared``)."""
    runtime = Runtime(cache_dir=shared.cache_dir, clock=VirtualClock(start), calendar=shared.calendar,
                      bundles=shared.bundles)
    worker = Worker(env.sessions, runtime, deliverers=registry_from_env(env.instance), worker_id="demo-seed")
    driver = DemoDriver(env.sessions, runtime, worker, demo)
    driver.start(sample_application(bundle, demo.category, demo.dual_supply), version_id)
    driver.run()


def main(folder: str = "processes") -> int:
    show_trials(Path(folder))
    seed(Path(folder), Environment.from_env())
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
