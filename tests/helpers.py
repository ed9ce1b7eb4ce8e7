"""Small helpers shared by tests: signed webhook posts, factories."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from dispatch.phones import normalize_phone
from models import Nurse, NurseSkill, NurseZone, Requester, RequesterPhone


def sign(settings, path: str, data: dict) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for this form post."""
    return RequestValidator(settings.twilio_auth_token).compute_signature(settings.public_base_url + path, data)


def post_signed(client, path: str, data: dict, *, settings=None):
    """POST a form to a webhook with a valid signature."""
    settings = settings or client.application.extensions["sio"].settings
    return client.post(path, data=data, headers={"X-Twilio-Signature": sign(settings, path, data)})


def make_nurse(session, name: str, phone: str, zones: list[str], skills: list[str] = (), availability: str = "") -> Nurse:
    nurse = Nurse(name=name, phone=normalize_phone(phone).e164, availability=availability)
    nurse.zones = [NurseZone(insee=z) for z in zones]
    nurse.skills = [NurseSkill(skill=s) for s in skills]
    session.add(nurse)
    session.flush()
    return nurse


def make_requester(session, name: str = "Ehpad Les Tilleuls", kind: str = "ehpad", phones=("04 77 00 00 01",)) -> Requester:
    requester = Requester(name=name, kind=kind, postcode="42400")
    requester.phones = [RequesterPhone(phone=normalize_phone(p).e164) for p in phones]
    session.add(requester)
    session.flush()
    return requester
