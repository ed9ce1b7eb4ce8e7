"""What every part of a process shares: settings, the database engine, the telephony adapter.

No Flask here: the web app (``dispatch.app``) and the workers (``workers``) build the same
:class:`Services` from the same settings, once per process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dispatch.config import Settings
from dispatch.telephony import Telephony
from models import make_engine, make_sessionmaker


@dataclass
class Services:
    """What every part of the process shares: settings, database, telephony."""

    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    telephony: Telephony


_SERVICES: dict[tuple, Services] = {}


def build_services(settings: Settings) -> Services:
    """One engine and one telephony adapter per settings, reused by the app and by jobs."""
    key = (settings.database_url, settings.telephony, settings.twilio_api_base_url, os.getpid())
    if key not in _SERVICES or _SERVICES[key].settings != settings:
        engine = make_engine(settings.database_url)
        _SERVICES[key] = Services(settings, engine, make_sessionmaker(engine), make_telephony(settings))
    return _SERVICES[key]


def make_telephony(settings: Settings) -> Telephony:
    """The adapter named by ``settings.telephony`` ("twilio" or "simulator"); each is imported
    only when chosen, so the simulator never loads the Twilio SDK's REST client."""
    if settings.telephony == "twilio":
        from dispatch.telephony.twilio_adapter import TwilioTelephony

        return TwilioTelephony(settings)
    if settings.telephony == "simulator":
        from dispatch.telephony.simulator import SimulatorTelephony

        return SimulatorTelephony(settings)
    raise ValueError(f"unknown telephony adapter {settings.telephony!r}: expected 'twilio' or 'simulator'")


def reset_services() -> None:
    """Forget every engine (tests, and a forked worker that must not share connections)."""
    for svc in _SERVICES.values():
        svc.engine.dispose()
    _SERVICES.clear()
