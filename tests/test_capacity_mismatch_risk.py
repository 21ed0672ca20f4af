"""A declared capacity far from the equipment list (``capacity_assessment``'s ``capacity_mismatch``) is a risk
the case records (``risk_rules`` rule 6, medium: tests/test_decisions.py has the table's cases): the survey should
check it on site."""

from __future__ import annotations

from typing import Any

from runner.process_folder import ProcessBundle
from runner.trial import TrialDriver, TrialOptions

SIGNED_AT_ACCEPTANCE = {"accept_application": {"decision": "accept", "contract_signed": True}}


def _risk(bundle: ProcessBundle, declared_kw: float) -> dict[str, Any]:
    driver = TrialDriver(bundle, TrialOptions(category="lv_smallmicro", answers=SIGNED_AT_ACCEPTANCE))
    driver.start_data["application"] = {**driver.start_data["application"], "declared_capacity_kw": declared_kw}
    result = driver.run()
    assert result.completed, result.visited[-10:]
    return dict(result.summary["risk"])


def test_a_declared_capacity_far_from_the_equipment_list_is_a_medium_risk(bundle: ProcessBundle) -> None:
    risk = _risk(bundle, 150)  # the sample lists 60 kW of equipment: 2.5 times, still 380 V
    assert ("capacity_mismatch", "medium") in zip(risk["flag"], risk["severity"], strict=True)


def test_a_declared_capacity_near_the_equipment_list_is_no_risk(bundle: ProcessBundle) -> None:
    assert "capacity_mismatch" not in _risk(bundle, 60)["flag"]
