"""Text from outside (SMS bodies, form fields, JSON) made safe to store on any database."""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, and lone surrogates: PostgreSQL refuses NUL outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def clean_text(value: object, max_len: int = 1600) -> str:
    """A plain string without control characters, cut to ``max_len``."""
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub("", value)[:max_len]
