"""Text and ids from outside (SMS bodies, form fields, JSON, URLs) made safe for any database."""

from __future__ import annotations

import re

#: The largest id a row can have (PostgreSQL's INTEGER); a larger number is no row of ours.
MAX_ROW_ID = 2**31 - 1
# C0 controls but tab and newline, DEL, and lone surrogates: PostgreSQL refuses NUL outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def clean_text(value: object, max_len: int = 1600) -> str:
    """A plain string without control characters, cut to ``max_len``."""
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub("", value)[:max_len]


def row_id(value: int | None) -> int | None:
    """A row id typed or posted from outside; None when absent or out of range (a huge number
    would overflow the database's integer: no row has it)."""
    return value if value is not None and 0 < value <= MAX_ROW_ID else None
