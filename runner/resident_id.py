"""The 18-character citizen ID number (公民身份号码, GB 11643-1999) of a resident ID card (居民身份证) or a household
register (户口簿): a 6-digit address code, the birth date as YYYYMMDD, a 3-digit sequence number and a check
character computed from the first 17 digits (ISO 7064 MOD 11-2).

A pattern can only check the shape; this module also checks that the birth date exists and the check character
fits, so that a mistyped digit is caught at the door (``runner.forms`` registers it as the JSON Schema format
``cn-resident-id``).
"""

from __future__ import annotations

import re
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
"""The check character for each remainder (0–10) of the weighted sum of the first 17 digits modulo 11."""
SHAPE = re.compile(r"[1-9]\d{16}[0-9Xx]")
EARLIEST_BIRTH_YEAR = 1800


def check_character(first_17_digits: str) -> str:
    """The check character for the first 17 digits: ``11010119900307123`` → ``3``."""
    return CHECK_CHARACTERS[sum(int(digit) * weight for digit, weight in zip(first_17_digits, WEIGHTS,
                                                                               strict=True)) % 11]


def resident_id_problem(number: str) -> str | None:
    """Why ``number`` is not a valid citizen ID number, or ``None`` when it is. An ``x`` in last place counts as
    ``X``."""
    if not SHAPE.fullmatch(number):
        return "must be 18 characters: 17 digits (the first not 0) and a check digit 0-9 or X"
    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    try:
        birth = date(year, month, day)
    except ValueError:
        birth = None
    if birth is None or year < EARLIEST_BIRTH_YEAR:
        return f"the birth date {number[6:10]}-{number[10:12]}-{number[12:14]} is not a real date"
    expected = check_character(number[:17])
    if number[17].upper() != expected:
        return f"the check digit should be {expected}, not {number[17]}"
    return None
