"""What a new case must bring: an application that fits the start form, and a time-limit regime the model knows.

Checked before the case starts, so that bad data is refused at the door with a clear message instead of failing
deep inside the process (a regime without limits would only fail at the first timer).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from lxml import etree

from .forms import FormValidationError, validate_form_data
from .process_folder import ProcessBundle

TIME_LIMITS_DMN = "time_limits.dmn"
QUOTED = re.compile(r"""["']([a-z0-9_]+)["']""")


def known_regimes(bundle: ProcessBundle) -> set[str]:
    """The regimes the time-limit table has rules for (the string literals of its ``regime`` column)."""
    path = bundle.root / TIME_LIMITS_DMN
    if not path.exists():
        return set()
    return set(_regimes_in(str(path), path.stat().st_mtime_ns))


@lru_cache(maxsize=64)
def _regimes_in(path: str, mtime_ns: int) -> frozenset[str]:
    """Read once per file version (a case start used to parse the table again)."""
    tree = etree.parse(str(path))
    namespace = tree.getroot().nsmap.get(None)
    ns = {"dmn": namespace}
    inputs = tree.findall(".//dmn:decisionTable/dmn:input", ns)
    columns = [i for i, el in enumerate(inputs) if (el.findtext("dmn:inputExpression/dmn:text", "", ns)).strip()
               == "regime"]
    regimes: set[str] = set()
    for rule in tree.findall(".//dmn:decisionTable/dmn:rule", ns):
        entries = rule.findall("dmn:inputEntry", ns)
        for column in columns:
            regimes.update(QUOTED.findall(entries[column].findtext("dmn:text", "", ns)))
    return frozenset(regimes)


def validate_start_data(bundle: ProcessBundle, data: dict[str, Any]) -> None:
    """Raise ``FormValidationError`` (field path, message) when the start data would not run."""
    errors: list[tuple[str, str]] = []
    if bundle.start_form:
        try:
            validate_form_data(bundle.form(bundle.start_form), data.get("application"))
        except FormValidationError as err:
            errors.extend((f"application.{path}" if path else "application", message) for path, message in err.errors)
    regimes = known_regimes(bundle)
    if regimes and data.get("regime") not in regimes:
        errors.append(("regime", f"unknown regime {data.get('regime')!r}; the time-limit table knows "
                                 f"{', '.join(sorted(regimes))}"))
    if errors:
        raise FormValidationError(errors)
