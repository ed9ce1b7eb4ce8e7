"""Migration 0011_people_rota makes the coordinators who existed before it admins (they could do
everything until then); a coordinator created afterwards is a coordinator. And the board filters
by pole."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text

from dispatch.app.migrate import alembic_config, upgrade
from models import Pole, make_engine
from tests.integration.test_migrations import fresh_url  # noqa: F401 (a fixture)
from tests.support.browser import login, make_coordinator
from tests.support.helpers import make_request_row


def test_existing_coordinators_become_admins(fresh_url):  # noqa: F811
    engine = make_engine(fresh_url)
    try:
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0006_security")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO coordinators (email, name, phone, password_hash, on_duty, created_at) "
                    "VALUES ('old@sio.test', 'Ancienne', '+33611000001', 'x', true, '2026-01-01 09:00:00')"
                )
            )
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO coordinators (email, name, phone, password_hash, on_duty, created_at) "
                    "VALUES ('new@sio.test', 'Nouvelle', '+33611000002', 'x', false, '2026-12-01 09:00:00')"
                )
            )
            roles = dict(conn.execute(text("SELECT email, role FROM coordinators")).all())
            changes = conn.execute(text("SELECT must_change_password FROM coordinators")).scalars().all()
        assert roles == {"old@sio.test": "admin", "new@sio.test": "coordinator"}
        assert changes == [False, False]
    finally:
        engine.dispose()


def test_the_board_filters_by_pole(client, session):
    make_coordinator(session)
    loire, auvergne = Pole(name="Saint-Chamond", departments="42 69"), Pole(name="Clermont-Ferrand", departments="63")
    session.add_all([loire, auvergne])
    now = datetime.now(UTC)
    make_request_row(session, "42207", "42400", now).reference = "100001"
    make_request_row(session, "63113", "63000", now).reference = "100002"
    session.commit()
    login(client)

    def shown(path: str) -> set[str]:
        html = client.get(path).get_data(as_text=True)
        return {ref for ref in ("100001", "100002") if f'data-reference="{ref}"' in html}

    assert shown("/status") == {"100001", "100002"}
    assert shown(f"/status?pole={loire.id}") == {"100001"}
    assert shown(f"/status/fragment?pole={auvergne.id}") == {"100002"}
    assert f'data-src="/status/fragment?pole={auvergne.id}"' in client.get(f"/status?pole={auvergne.id}").get_data(
        as_text=True
    )
    assert shown("/status?pole=999999") == shown("/status?pole=x") == {"100001", "100002"}
