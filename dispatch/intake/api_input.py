"""Validating the API's JSON into a :class:`NewRequest`, with one French error per field."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dispatch import geo
from dispatch.config import Settings
from dispatch.phones import PhoneError, normalize_callback, normalize_phone
from dispatch.requests.create import NewRequest
from dispatch.sanitize import clean_text
from dispatch.starts import start_error
from dispatch.vocab import CARE_TYPES
from models import Requester

MAX_NOTES = 2000
_POSTCODE = re.compile(r"^\d{5}$")
_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


def _text(body: dict, key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise TypeError
    return clean_text(value.strip(), 100_000) or None


def _start(text: str, settings: Settings, now: datetime) -> tuple[datetime | None, bool, str | None]:
    """``start_at``: an ISO 8601 date (care that day) or date and time (local when no offset);
    the rules of ``dispatch.starts``. (start, has a time, error)."""
    local_now = now.astimezone(settings.timezone)
    try:
        start = datetime.fromisoformat(text)
        date_only = len(text) <= 10
        if start.tzinfo is None:
            start = start.replace(tzinfo=settings.timezone)
        local = start.astimezone(settings.timezone)
    except (ValueError, OverflowError):  # not a date, or out of what a datetime holds in our zone
        return None, False, "date invalide (format ISO 8601, ex. 2026-11-23T09:30)"
    problem = start_error(start.date() if date_only else local, local_now)
    if problem:
        return None, False, problem
    return local.astimezone(now.tzinfo), not date_only, None


def parse_new_request(
    session: Session,
    settings: Settings,
    body: dict[str, Any],
    requester: Requester | None,
    now: datetime,
    *,
    check_place: bool = True,
) -> tuple[NewRequest | None, dict[str, str]]:
    """The API's JSON (and the coordinators' forms, translated by ``dispatch.intake.desk_form``)
    as a :class:`NewRequest`, or the French error of each bad field. ``check_place=False``: the
    place is not checked (an edit, which does not change it)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key in ("postcode", "insee", "care_type", "start_at", "usual_nurse_phone", "callback_phone", "notes"):
        try:
            values[key] = _text(body, key)
        except TypeError:
            errors[key] = "doit être une chaîne de caractères"

    postcode, insee = values.get("postcode"), values.get("insee")
    if check_place and "postcode" not in errors and "insee" not in errors:
        if insee:
            if not _INSEE.match(insee.upper()) or geo.commune(session, insee.upper()) is None:
                errors["insee"] = "code INSEE inconnu"
            else:
                insee = insee.upper()
                if postcode and postcode not in geo.postcodes_of(session, insee):
                    errors["postcode"] = "ce code postal ne correspond pas à la commune"
        elif postcode:
            if not _POSTCODE.match(postcode) or not geo.is_known_postcode(session, postcode):
                errors["postcode"] = "code postal inconnu"
        else:
            errors["postcode"] = "code postal ou code INSEE obligatoire"

    care_type = (values.get("care_type") or "").lower()
    if "care_type" not in errors:
        if not care_type:
            errors["care_type"] = "type de soin obligatoire"
        elif care_type not in CARE_TYPES:
            errors["care_type"] = f"type de soin inconnu (valeurs: {', '.join(CARE_TYPES)})"

    start_at, has_time = None, False
    if values.get("start_at") and "start_at" not in errors:
        start_at, has_time, problem = _start(values["start_at"], settings, now)
        if problem:
            errors["start_at"] = problem

    phones: dict[str, str | None] = {}
    for key, required in (("callback_phone", True), ("usual_nurse_phone", False)):
        if key in errors:
            continue
        raw = values.get(key)
        if not raw:
            if required:
                errors[key] = "numéro de rappel obligatoire"
            phones[key] = None
            continue
        try:
            phones[key] = (normalize_callback if key == "callback_phone" else normalize_phone)(raw).e164
        except PhoneError as err:
            errors[key] = str(err)

    notes = values.get("notes")
    if notes and len(notes) > MAX_NOTES:
        errors["notes"] = f"trop long ({MAX_NOTES} caractères au plus)"
    urgent = body.get("urgent", False)
    if urgent is None:
        urgent = False
    if not isinstance(urgent, bool):
        errors["urgent"] = "doit être true ou false"
    if errors:
        return None, errors
    return (
        NewRequest(
            channel="api",
            care_type=care_type,
            postcode=postcode if not insee else (postcode or None),
            insee=insee,
            start_at=start_at,
            has_start_time=has_time,
            urgent=urgent,
            callback_phone=phones["callback_phone"],
            usual_nurse_phone=phones.get("usual_nurse_phone"),
            notes=notes,
            requester=requester,
        ),
        {},
    )
