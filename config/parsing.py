"""Reading integers from query strings and form posts without surprises.

``str.isdigit()`` is true for "²" and for 5,000 nines, and ``int()`` then fails or makes a number no database column
holds; every view that reads an id, a count or a duration from request data goes through :func:`parse_int` instead.
"""
from __future__ import annotations

import re

#: The largest value a 64-bit signed integer column holds (SQLite and PostgreSQL bigint alike).
INT64_MAX = 2**63 - 1
_ASCII_INT = re.compile(r"[+-]?[0-9]{1,19}")


def parse_int(value, *, minimum: int | None = 0, maximum: int = INT64_MAX) -> int | None:
    """``value`` as an int if it is plain ASCII digits (an optional sign) within [minimum, maximum]; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _ASCII_INT.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        return None
    if (minimum is not None and number < minimum) or number > maximum:
        return None
    return number
