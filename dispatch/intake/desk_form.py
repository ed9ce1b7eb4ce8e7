"""The coordinators' forms (a new request from a call, an edit) read with the API's rules.

The form's fields are turned into the API's fields and checked by
:func:`dispatch.intake.api_input.parse_new_request`: one set of rules and French messages for
every channel. The errors come back keyed by the form's own fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from dispatch.config import Settings
from dispatch.intake.api_input import parse_new_request
from dispatch.intake.lookup import find_commune, find_requester, nurse_phone
from dispatch.phones import PhoneError, normalize_phone
from dispatch.requests.create import NewRequest
from dispatch.requests.edit import RequestChanges
from dispatch.sanitize import clean_text
from models import CareRequest

DAYS = ("today", "tomorrow", "date")
MAX_NAME = 120
# The API's field → the form's field that shows its error.
FORM_FIELD = {
    "postcode": "place",
    "insee": "place",
    "start_at": "day",
    "usual_nurse_phone": "usual_nurse",
    "callback_phone": "callback_phone",
    "care_type": "care_type",
    "notes": "notes",
    "urgent": "urgent",
}
_TIME = re.compile(r"^(\d{1,2})\s*(?:[h:.]\s*(\d{2})?)?$")


def _field(form: Mapping[str, str], key: str, max_len: int = 2100) -> str:
    value = form.get(key)
    return clean_text(value, max_len).strip() if isinstance(value, str) else ""


def _start(form: Mapping[str, str], settings: Settings, now: datetime) -> tuple[str | None, dict[str, str]]:
    """The day and time fields as the API's ``start_at`` (a date, or a date and time)."""
    day = _field(form, "day") or "today"
    today = now.astimezone(settings.timezone).date()
    if day not in DAYS:
        return None, {"day": "choisissez aujourd'hui, demain ou une date"}
    if day == "date":
        raw = _field(form, "date", 20)
        try:
            date = datetime.strptime(raw, "%Y-%m-%d" if "-" in raw else "%d/%m/%Y").date()
        except ValueError:
            return None, {"date": "date invalide (jj/mm/aaaa)" if raw else "date obligatoire pour « une autre date »"}
    else:
        date = today + timedelta(days=DAYS.index(day))
    text = _field(form, "time", 20).lower()
    if not text:
        return date.isoformat(), {}  # "dans la journée"
    match = _TIME.match(text)
    hour, minute = (int(match.group(1)), int(match.group(2) or 0)) if match else (99, 0)
    if hour > 23 or minute > 59:
        return None, {"time": "heure invalide (ex. 9h30), ou laissez vide pour « dans la journée »"}
    return f"{date.isoformat()}T{hour:02d}:{minute:02d}", {}


def _api_errors(errors: dict[str, str], into: dict[str, str]) -> None:
    for key, message in errors.items():
        into.setdefault(FORM_FIELD.get(key, key), message)


@dataclass
class DeskRequest:
    """A request typed by a coordinator: what ``create_request`` takes, and the requester's
    name when it is not a registered one."""

    new: NewRequest
    requester_name: str | None


def parse_desk_form(
    session: Session, settings: Settings, form: Mapping[str, str], now: datetime
) -> tuple[DeskRequest | None, dict[str, str]]:
    """The new-request form as a request, or French errors by form field."""
    errors: dict[str, str] = {}
    postcode, insee, problem = find_commune(session, _field(form, "place", 100))
    if problem:
        errors["place"] = problem
    start_at, start_errors = _start(form, settings, now)
    errors.update(start_errors)
    usual, problem = nurse_phone(session, _field(form, "usual_nurse", 200))
    if problem:
        errors["usual_nurse"] = problem
    name = _field(form, "requester", 200).split(" · ")[0].strip()
    if len(name) > MAX_NAME:
        errors["requester"] = f"nom trop long ({MAX_NAME} caractères au plus)"
    body = {
        "postcode": postcode or ("00000" if "place" in errors else None),
        "insee": insee,
        "care_type": _field(form, "care_type", 40),
        "start_at": start_at,
        "usual_nurse_phone": usual,
        "callback_phone": _field(form, "callback_phone", 40),
        "notes": _field(form, "notes", 4000) or None,
        "urgent": form.get("urgent") in ("1", "on", "true"),
    }
    callback = _phone_or_none(body["callback_phone"])
    requester = find_requester(session, name, callback)
    new, api_errors = parse_new_request(session, settings, body, requester, now)
    _api_errors({k: v for k, v in api_errors.items() if not (k in ("postcode", "insee") and "place" in errors)}, errors)
    if errors or new is None:
        return None, errors
    new.channel = "coordinator"
    new.requester_name = None if requester else (name or None)
    return DeskRequest(new, new.requester_name), {}


def _phone_or_none(text: str) -> str | None:
    try:
        return normalize_phone(text).e164 if text else None
    except PhoneError:
        return None


def parse_edit_form(
    session: Session, settings: Settings, form: Mapping[str, str], request: CareRequest, now: datetime
) -> tuple[RequestChanges | None, dict[str, str]]:
    """The edit form, checked like a new request at the same place; French errors by field.

    A start left as it was is kept even when it is now in the past (an edit of the notes of
    yesterday's request must not be refused for its date)."""
    errors: dict[str, str] = {}
    keep_start = form.get("day") == "keep"
    start_at, start_errors = (None, {}) if keep_start else _start(form, settings, now)
    errors.update(start_errors)
    usual, problem = nurse_phone(session, _field(form, "usual_nurse", 200))
    if problem:
        errors["usual_nurse"] = problem
    body = {
        "care_type": _field(form, "care_type", 40),
        "start_at": start_at,
        "usual_nurse_phone": usual,
        "callback_phone": _field(form, "callback_phone", 40),
        "notes": _field(form, "notes", 4000) or None,
        "urgent": form.get("urgent") in ("1", "on", "true"),
    }
    new, api_errors = parse_new_request(session, settings, body, None, now, check_place=False)
    _api_errors(api_errors, errors)
    if errors or new is None:
        return None, errors
    return (
        RequestChanges(
            care_type=new.care_type,
            start_at=request.start_at if keep_start else new.start_at,
            has_start_time=request.has_start_time if keep_start else new.has_start_time,
            urgent=new.urgent,
            callback_phone=new.callback_phone or "",
            usual_nurse_phone=new.usual_nurse_phone,
            notes=new.notes,
        ),
        {},
    )
