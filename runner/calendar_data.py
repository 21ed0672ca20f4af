"""Data side of the Chinese working-day calendar: validation, JSON I/O, seeding and admin year files.

The committed data file ``runner/data/cn_workdays.json`` has the shape::

    {"source": "...", "years": {"2026": {"holidays": ["2026-01-01", ...], "workdays": ["2026-01-04", ...]}}}

``holidays`` are the official days off (法定节假日 and 调休 days off, weekend days inside a holiday period included),
``workdays`` are the 调休 make-up working days (weekend days that are working days). A year's entry follows the
State Council notice for that year, which may reach into the neighbouring December or January (the 2019 notice set
2018-12-29 as a working day), so dates of year ``Y`` may also fall in December of ``Y-1`` or January of ``Y+1``.

This module imports nothing from the rest of the project; :mod:`runner.workdays` builds the calendar on top of it.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

YearData = tuple[frozenset[date], frozenset[date]]
"""``(holidays, workdays)`` of one year."""

KINDS = ("holiday", "workday")


class CalendarDataError(ValueError):
    """Bad calendar data; the message names the file and, where known, the line.

    Attributes:
        path: The offending file, or None for data not read from a file.
        line: The 1-based line number, or None when it cannot be located.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        where = "" if self.path is None else (f"{self.path}:{line}: " if line else f"{self.path}: ")
        super().__init__(where + message)


def parse_date(text: object) -> date:
    """Parse a strict ``YYYY-MM-DD`` date string.

    Raises:
        ValueError: If ``text`` is not such a string or not a real date.
    """
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        raise ValueError(f"bad date {text!r} (expected YYYY-MM-DD)")
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"bad date {text!r} ({exc})") from None


def validate_year(year: int, holidays: Iterable[date], workdays: Iterable[date]) -> YearData:
    """Check one year's entry and return it as frozensets.

    Rules: every date lies in ``year``, December of ``year - 1`` or January of ``year + 1``; no date is listed twice
    or as both kinds; make-up working days fall on a Saturday or Sunday.

    Raises:
        CalendarDataError: On any rule violation.
    """
    if not isinstance(year, int) or isinstance(year, bool) or not 1 <= year <= 9998:
        raise CalendarDataError(f"bad year {year!r}")
    seen: dict[date, str] = {}
    for kind, days in (("holiday", holidays), ("workday", workdays)):
        for d in days:
            if not isinstance(d, date):
                raise CalendarDataError(f"{year}: {d!r} is not a date")
            if not (d.year == year or (d.year == year - 1 and d.month == 12) or (d.year == year + 1 and d.month == 1)):
                raise CalendarDataError(f"{year}: {d.isoformat()} is outside year {year} and its edge months")
            if d in seen:
                raise CalendarDataError(f"{year}: duplicate date {d.isoformat()} ({seen[d]} and {kind})")
            if kind == "workday" and d.weekday() < 5:
                raise CalendarDataError(f"{year}: make-up working day {d.isoformat()} is not a Saturday or Sunday")
            seen[d] = kind
    return (
        frozenset(d for d, k in seen.items() if k == "holiday"),
        frozenset(d for d, k in seen.items() if k == "workday"),
    )


def years_from_dict(data: Mapping[str, Any], path: str | Path | None = None) -> tuple[str, dict[int, YearData]]:
    """Validate the parsed content of a calendar data file.

    Returns:
        ``(source, {year: (holidays, workdays)})``.

    Raises:
        CalendarDataError: On a wrong shape, a bad date or a rule violation (see :func:`validate_year`).
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("years"), Mapping):
        raise CalendarDataError('expected an object with a "years" object', path)
    years: dict[int, YearData] = {}
    for key, entry in data["years"].items():
        if not re.fullmatch(r"\d{4}", str(key)) or not isinstance(entry, Mapping):
            raise CalendarDataError(f"bad year entry {key!r}", path)
        lists: list[list[date]] = []
        for field in ("holidays", "workdays"):
            raw = entry.get(field, [])
            if not isinstance(raw, list):
                raise CalendarDataError(f'{key}: "{field}" must be a list', path)
            try:
                lists.append([parse_date(x) for x in raw])
            except ValueError as exc:
                raise CalendarDataError(f"{key}: {exc}", path) from None
        try:
            years[int(key)] = validate_year(int(key), lists[0], lists[1])
        except CalendarDataError as exc:
            raise CalendarDataError(str(exc), path) from None
    return str(data.get("source", "")), years


def years_to_dict(source: str, years: Mapping[int, YearData]) -> dict[str, Any]:
    """Build the JSON-able content of a calendar data file (sorted, deterministic)."""
    return {
        "source": source,
        "years": {
            str(y): {
                "holidays": [d.isoformat() for d in sorted(years[y][0])],
                "workdays": [d.isoformat() for d in sorted(years[y][1])],
            }
            for y in sorted(years)
        },
    }


def read_data_file(path: str | Path) -> tuple[str, dict[int, YearData]]:
    """Read and validate a calendar data file (``cn_workdays.json`` shape).

    Raises:
        CalendarDataError: If the file is not valid JSON or its content is invalid.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CalendarDataError(f"invalid JSON: {exc.msg}", path, exc.lineno) from None
    return years_from_dict(data, path)


def write_data_file(path: str | Path, source: str, years: Mapping[int, YearData]) -> None:
    """Write a calendar data file (UTF-8, one date per line, trailing newline)."""
    text = json.dumps(years_to_dict(source, years), ensure_ascii=False, indent=2)
    Path(path).write_text(text + "\n", encoding="utf-8")


def seed_from_chinese_calendar(first_year: int = 2004, last_year: int = 2026) -> dict[str, Any]:
    """Build calendar data from the PyPI ``chinese-calendar`` package.

    Dates are grouped by the calendar year they fall in. ``chinese-calendar`` 1.11 knows 2004–2026.

    Args:
        first_year: First year to include.
        last_year: Last year to include (inclusive).

    Returns:
        The content of a data file, ready for :func:`write_data_file` / ``json.dump``.

    Raises:
        CalendarDataError: If the package has no data for a requested year.
    """
    from importlib.metadata import version

    from chinese_calendar import constants

    holidays: dict[date, object] = dict(constants.holidays)
    workdays: dict[date, object] = dict(constants.workdays)
    years: dict[int, YearData] = {}
    for year in range(first_year, last_year + 1):
        hol = [d for d in holidays if d.year == year]
        if not hol:
            raise CalendarDataError(f"chinese-calendar has no data for {year}")
        years[year] = validate_year(year, hol, [d for d in workdays if d.year == year])
    source = (
        f"PyPI chinese-calendar {version('chinese-calendar')} (State Council schedules {first_year}-{last_year}); "
        "update when the State Council publishes a new year's schedule"
    )
    return years_to_dict(source, years)


def _line_of(text: str, token: str, occurrence: int = 1) -> int | None:
    """1-based line of the ``occurrence``-th appearance of ``token`` in ``text``, or None."""
    pos = -1
    for _ in range(occurrence):
        pos = text.find(token, pos + 1)
        if pos < 0:
            return None
    return text.count("\n", 0, pos) + 1


def _load_year_csv(path: Path, text: str) -> list[tuple[date, str, int]]:
    rows: list[tuple[date, str, int]] = []
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if lineno == 1 and [c.lower() for c in cells[:2]] == ["date", "kind"]:
            continue
        if len(cells) != 2:
            raise CalendarDataError(f"expected 2 columns date,kind, got {len(cells)}", path, lineno)
        try:
            d = parse_date(cells[0])
        except ValueError as exc:
            raise CalendarDataError(str(exc), path, lineno) from None
        if cells[1].lower() not in KINDS:
            raise CalendarDataError(f"unknown kind {cells[1]!r} (expected holiday or workday)", path, lineno)
        rows.append((d, cells[1].lower(), lineno))
    return rows


def _load_year_json(path: Path, text: str) -> tuple[int | None, list[tuple[date, str, int]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalendarDataError(f"invalid JSON: {exc.msg}", path, exc.lineno) from None
    if not isinstance(data, dict) or set(data) - {"year", "source", "holidays", "workdays"}:
        raise CalendarDataError('expected an object with "year", "holidays" and "workdays"', path)
    year = data.get("year")
    if year is not None and (not isinstance(year, int) or isinstance(year, bool)):
        raise CalendarDataError(f"bad year {year!r}", path, _line_of(text, '"year"'))
    rows: list[tuple[date, str, int]] = []
    counts: Counter[str] = Counter()
    for field, kind in (("holidays", "holiday"), ("workdays", "workday")):
        raw = data.get(field, [])
        if not isinstance(raw, list):
            raise CalendarDataError(f'"{field}" must be a list', path, _line_of(text, f'"{field}"'))
        for item in raw:
            token = json.dumps(item)
            counts[token] += 1
            line = _line_of(text, token, counts[token]) or 0
            try:
                rows.append((parse_date(item), kind, line))
            except ValueError as exc:
                raise CalendarDataError(str(exc), path, line or None) from None
    return year, rows


def load_year_file(path: str | Path) -> tuple[int, frozenset[date], frozenset[date]]:
    """Read one year's schedule written by an administrator.

    Two formats, chosen by the file extension:

    * ``.csv``: lines ``date,kind`` with ``kind`` = ``holiday`` | ``workday``; an optional ``date,kind`` header,
      blank lines and ``#`` comment lines are ignored.
    * ``.json``: ``{"year": 2027, "holidays": ["2027-01-01", ...], "workdays": ["2027-02-20", ...]}``; ``year``
      is optional.

    Without an explicit year, the year is the one most dates fall in. Dates may reach into December of the previous
    or January of the next year (see the module docstring).

    Returns:
        ``(year, holidays, workdays)``.

    Raises:
        CalendarDataError: With the file name and line on a bad date, an unknown kind, a duplicate date, a date
            outside the year or a weekday make-up day; with the file name for an unreadable or empty file.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarDataError(f"cannot read: {exc}", p) from None
    year: int | None = None
    if p.suffix.lower() == ".csv":
        rows = _load_year_csv(p, text)
    elif p.suffix.lower() == ".json":
        year, rows = _load_year_json(p, text)
    else:
        raise CalendarDataError("unsupported file type (expected .csv or .json)", p)
    if not rows:
        raise CalendarDataError("no dates", p)
    first_line: dict[date, int] = {}
    for d, _kind, line in rows:
        if d in first_line:
            raise CalendarDataError(f"duplicate date {d.isoformat()} (first on line {first_line[d]})", p, line or None)
        first_line[d] = line
    if year is None:
        ranked = Counter(d.year for d, _k, _l in rows).most_common(2)
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            raise CalendarDataError(f"cannot tell the year: as many dates in {ranked[0][0]} as in {ranked[1][0]}", p)
        year = ranked[0][0]
    for d, kind, line in rows:
        try:
            validate_year(year, [d] if kind == "holiday" else [], [d] if kind == "workday" else [])
        except CalendarDataError as exc:
            raise CalendarDataError(str(exc), p, line or None) from None
    hol = frozenset(d for d, k, _l in rows if k == "holiday")
    return year, hol, frozenset(d for d, k, _l in rows if k == "workday")
