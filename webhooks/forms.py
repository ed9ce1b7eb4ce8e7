"""Reading Twilio's form fields: bounded, cleaned strings, never an exception."""

from __future__ import annotations

from flask import request

from dispatch.sanitize import clean_text


def field(name: str, max_len: int = 64) -> str:
    return clean_text(request.form.get(name, ""), max_len)
