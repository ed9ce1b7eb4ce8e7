"""Alembic migrations: a fresh database gets every table of the models, and nothing differs."""

from __future__ import annotations

import time
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url

from dispatch.app.migrate import alembic_config, upgrade
from models import Base, Commune, Postcode, make_engine, make_sessionmaker
from tests.conftest import PG_URL, USE_PG


@pytest.fixture
def fresh_url(tmp_path):
    """An empty database: a new SQLite file, or a new PostgreSQL database dropped afterwards."""
    if not USE_PG:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"{make_url(PG_URL).database}_mig_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_upgrade_creates_every_table_and_loads_communes(fresh_url):
    engine = make_engine(fresh_url)
    try:
        started = time.perf_counter()
        loaded = upgrade(engine)
        elapsed = time.perf_counter() - started
        print(f"\nupgrade + communes load on {engine.dialect.name}: {elapsed:.2f} s")

        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
        assert loaded == 35076
        with make_sessionmaker(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Commune)) == 35076
            assert session.scalar(select(func.count()).select_from(Postcode)) == 35577
            assert session.get(Commune, "42218").name == "Saint-Étienne"
        assert elapsed < 30  # the target is 10 s; leave room for a slow CI machine

        assert upgrade(engine) == 0  # a second run changes nothing
    finally:
        engine.dispose()


def test_models_and_migrations_agree(fresh_url):
    engine = make_engine(fresh_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(fresh_url):
    engine = make_engine(fresh_url)
    try:
        upgrade(engine)
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert upgrade(engine) == 35076
    finally:
        engine.dispose()


def test_answer_stats_migration_upgrades_and_downgrades(fresh_url):
    """0012 (issue 17): ``nurse_answer_stats``, ``offers.counted`` and its indexes come and go."""
    engine = make_engine(fresh_url)
    try:
        upgrade(engine)
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0011_people_rota")
        assert "nurse_answer_stats" not in inspect(engine).get_table_names()
        assert "counted" not in {c["name"] for c in inspect(engine).get_columns("offers")}
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0012_answer_stats")
        inspector = inspect(engine)
        assert "nurse_answer_stats" in inspector.get_table_names()
        assert "counted" in {c["name"] for c in inspector.get_columns("offers")}
        names = {i["name"] for i in inspector.get_indexes("offers")}
        assert {"ix_offers_uncounted_nurse", "ix_offers_uncounted_created", "ix_offers_counted_created"} <= names
    finally:
        engine.dispose()
