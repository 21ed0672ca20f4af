"""``baozhuang calibrate``'s check on stderr prints its figures as a process owner reads them: never in scientific
notation (a history of cases done within a second read ``history mean 5.75e-07``; 1,234 days read ``1.23e+03``)."""

from __future__ import annotations

import re

from runner.cli_calibrate import _figure

SCIENTIFIC = re.compile(r"\de[+-]\d")


def test_figures_are_never_in_scientific_notation() -> None:
    assert _figure(5.75e-07) == "0.000" and _figure(-3e-9, " h") == "0.000 h" and _figure(0) == "0"
    assert _figure(1234.4, " days") == "1,234 days" and _figure(999.7) == "1,000" and _figure(150.2) == "150"
    assert _figure(3.5512) == "3.55" and _figure(0.1667) == "0.167" and _figure(0.00123) == "0.00123"
    assert _figure(None) == "n/a"
    for value in (1e-12, 4.2e-5, 0.5, 99.96, 1e6, -2.5e7):
        assert not SCIENTIFIC.search(_figure(value)), (value, _figure(value))
