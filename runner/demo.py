"""``make run`` until the web UI exists: validate the model and run one demo case per customer category."""

from __future__ import annotations

import sys
from pathlib import Path

from .process_folder import load_process_folder
from .trial import TrialOptions, run_trial

DEMO_CASES = (
    ("lv_residential", False),
    ("lv_smallmicro", False),
    ("lv_other", False),
    ("hv_ordinary", False),
    ("hv_ordinary", True),
    ("hv_important", False),
)


def main(folder: str = "processes") -> int:
    bundle = load_process_folder(Path(folder))
    print(f"process version {bundle.version[:12]} from {folder}")
    print(f"{'category':<22}{'steps run':>10}{'GE steps':>10}{'working days':>14}{'calendar days':>15}  result")
    for category, dual in DEMO_CASES:
        result = run_trial(bundle, TrialOptions(category=category, dual_supply=dual))
        kpis = result.kpis
        label = category + (" (双电源)" if dual else "")
        print(
            f"{label:<22}{len(result.visited):>10}{kpis.get('steps', '-')!s:>10}"
            f"{kpis.get('working_days', '-')!s:>14}{kpis.get('calendar_days', '-')!s:>15}  "
            f"{'completed' if result.completed else 'NOT completed'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
