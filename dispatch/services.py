"""What every part of a process shares: settings, the database engine, the telephony adapter.

No Flask here: the web app (``dispatch.app``) and the workers (``workers``) build the same
:class:`Services` from the same settings, once per process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dispatch.config import Settings, load_settings
from dispatch.telephony import Telephony
from models import make_engine, make_sessionmaker


@dataclass
class Services:
    """What every part of the process shares: settings, database, telephony."""

    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    telephony: Telephony


_BUILT: dict[tuple, Services] = {}
_CURRENT: Services | None = None


def build_services(settings: Settings) -> Services:
    """The services for these settings (one engine, one telephony adapter per settings and
    process), made the process's own: the app factory and ``sio worker`` call this once at
    start, and every job of the process then uses them (:func:`process_services`)."""
    global _CURRENT
    key = (settings, os.getpid())  # a forked child never shares its parent's connections
    if key not in _BUILT:
        engine = make_engine(settings.database_url)
        _BUILT[key] = Services(settings, engine, make_sessionmaker(engine), make_telephony(settings))
    _CURRENT = _BUILT[key]
    return _CURRENT


def process_services() -> Services:
    """This process's services: those last built (by the app factory or the worker), else built
    once from the environment (a job run in a process nothing else set up)."""
    if _CURRENT is None or (_CURRENT.settings, os.getpid()) not in _BUILT:
        return build_services(load_settings())
    return _CURRENT


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
    """Forget every engine (tests)."""
    global _CURRENT
    for svc in _BUILT.values():
        svc.engine.dispose()
    _BUILT.clear()
    _CURRENT = None
