"""Engine and session set-up: one ``sessionmaker`` for the whole process."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
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
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("hide_parameters", True)
    return create_engine(url, **kwargs)


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
