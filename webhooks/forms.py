"""Reading Twilio's form fields: bounded, cleaned strings, never an exception."""

from __future__ import annotations

from flask import request

from dispatch.sanitize import clean_text, row_id


def field(name: str, max_len: int = 64) -> str:
    return clean_text(request.form.get(name, ""), max_len)


def optional_field(name: str, max_len: int) -> str | None:
    """None when the field is absent (Twilio's ``Digits`` differs from an empty one)."""
    value = request.form.get(name)
    return None if value is None else clean_text(value, max_len)


def query_id(name: str) -> int | None:
    """A row id from our own callback URL (``?m=``, ``?c=``); None when absent or out of range."""
    return row_id(request.args.get(name, type=int))
