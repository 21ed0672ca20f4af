"""``baozhuang try`` from tests: a sample case of a category run to its end, with changes to its application."""

from __future__ import annotations

from typing import Any

from runner.process_folder import ProcessBundle
from runner.trial import TrialDriver, TrialOptions, TrialResult


def trial(bundle: ProcessBundle, category: str, application: dict[str, Any] | None = None,
          **options: Any) -> tuple[TrialDriver, TrialResult]:
    """The sample case of ``category`` with ``application`` laid over its application, run to completion (asserted;
    the last visited elements are shown otherwise); ``options`` are ``TrialOptions``'."""
    driver = TrialDriver(bundle, TrialOptions(category=category, **options))
    driver.start_data["application"] = {**driver.start_data["application"], **(application or {})}
    result = driver.run()
    assert result.completed, result.visited[-10:]
    return driver, result
