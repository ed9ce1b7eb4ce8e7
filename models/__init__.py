"""SQLAlchemy 2 typed models: the database is the single source of truth (DESIGN §3)."""

from models.access import CoordinatorSession, LoginThrottle
from models.base import Base, utcnow
from models.db import is_postgres, make_engine, make_sessionmaker
from models.geo import Commune, Postcode
from models.nurse_space import NurseChange, NurseLink, NurseRegistration, NurseSession
from models.people import ApiToken, Coordinator, Nurse, NurseAbsence, NurseSkill, NurseZone, Requester, RequesterPhone
from models.requests import CareRequest, Event, NurseAnswerStats, Offer
from models.rota import Pole, RotaException, RotaShift
from models.telephony import Call, IvrSession, Message, WebhookReceipt
from models.to_read import MessageToRead

__all__ = [
    "ApiToken",
    "Base",
    "Call",
    "CareRequest",
    "Commune",
    "Coordinator",
    "CoordinatorSession",
    "Event",
    "IvrSession",
    "LoginThrottle",
    "Message",
    "MessageToRead",
    "Nurse",
    "NurseAbsence",
    "NurseAnswerStats",
    "NurseChange",
    "NurseLink",
    "NurseRegistration",
    "NurseSession",
    "NurseSkill",
    "NurseZone",
    "Offer",
    "Pole",
    "Postcode",
    "Requester",
    "RequesterPhone",
    "RotaException",
    "RotaShift",
    "WebhookReceipt",
    "is_postgres",
    "make_engine",
    "make_sessionmaker",
    "utcnow",
]
