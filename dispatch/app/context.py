"""What a view or a webhook handler reaches for: the process's services and the web request's
database session (closed at teardown by ``dispatch.app.factory``)."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from dispatch.services import Services

#: What SQLAlchemy raises when the database cannot be reached (a restart, a failover).
DATABASE_DOWN = (OperationalError, InterfaceError)


def services() -> Services:
    return current_app.extensions["sio"]


def db() -> Session:
    """The session of the current web request, closed at teardown."""
    if "db" not in g:
        g.db = services().sessionmaker()
    return g.db
