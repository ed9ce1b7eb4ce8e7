"""Engine and session set-up: one ``sessionmaker`` for the whole process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, sqlite_immediate: bool = True, **kwargs) -> Engine:
    """An engine with the settings both databases need to behave alike.

    ``sqlite_immediate=False`` gives plain deferred transactions: for observers (tests,
    reports) that only read and must never hold the write lock between statements.
    """
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        # Several threads (gunicorn, test threads) share the file; wait on locks instead of failing.
        # hide_parameters: SQL logs and errors never carry phone numbers or patient notes.
        kwargs.setdefault("hide_parameters", True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # Take the write lock at BEGIN (SQLAlchemy's documented recipe): a transaction that
            # reads then writes cannot then fail with "database is locked" when another
            # writer got in between; guarded updates behave as on PostgreSQL.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if sqlite_immediate else "BEGIN")

        return engine
    pre_ping = kwargs.pop("pool_pre_ping", True)
    kwargs.setdefault("hide_parameters", True)
    engine = create_engine(url, **kwargs)
    if pre_ping:
        _ping_on_checkout(engine)
    return engine


# Whether a pool checkout pings its connection first (see ``unpinged``).
_PING = ContextVar("sio_ping_on_checkout", default=True)


def _ping_on_checkout(engine: Engine) -> None:
    """SQLAlchemy's pre-ping, as a checkout event so that a caller may do without it: a
    connection found dead (a database restart) is replaced before anyone uses it."""

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, _record, _proxy):
        if not _PING.get():
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as err:
            if engine.dialect.is_disconnect(err, dbapi_connection, None):
                raise DisconnectionError() from err  # the pool drops it and checks out another
            raise


@contextmanager
def unpinged() -> Iterator[None]:
    """Inside, a checkout does not ping its connection (one round trip saved per checkout): for
    a caller that runs one statement and retries it on a fresh connection when it fails on a
    dead one (``err.connection_invalidated``), as ``/webhooks/sms`` does."""
    token = _PING.set(False)
    try:
        yield
    finally:
        _PING.reset(token)


def _private_sqlite_file(url: str) -> None:
    """The database holds health data: its file is created readable by its owner only (0600, like
    the secret key), and SQLite gives its -wal and -shm files the same mode. A file made earlier
    with a wider mode is narrowed."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists():
        if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
            path.chmod(0o600)
        return
    if path.parent.is_dir():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
