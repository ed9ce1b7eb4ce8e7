"""Issue 17, the pages' share: what the board and the nurses page read does not grow with history.

The board: an unfilled request leaves the default board 7 days after its care start
(``status.queries.unfilled_on_board``) and stays in the "Non pourvues" filter, newest first, page
by page. The nurses page: a database search over folded columns, kept on every write and
backfilled by migration 0013.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, event, insert, inspect, select, text

from dispatch.app.factory import create_app
from dispatch.app.migrate import alembic_config, upgrade
from dispatch.clock import utcnow
from dispatch.services import reset_services
from models import CareRequest, Commune, Event, Nurse, Offer, make_engine, make_sessionmaker
from status import queries
from status.nurses import RECENT_ANSWERS, recent_answers
from tests.integration.test_migrations import fresh_url  # noqa: F401 (a fixture)
from tests.support.browser import login, make_coordinator
from tests.support.helpers import make_nurse, make_request_row

SAINT_CHAMOND = "42207"


def board_sections(html: str) -> dict[str, str]:
    parts = re.split(r'<h2 id="h-(attention|active|recent)">', html)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def unfilled(session, created_ago: timedelta, start_ago: timedelta | None = None) -> str:
    now = utcnow()
    request = make_request_row(session, SAINT_CHAMOND, "42400", now - created_ago, status="unfilled")
    if start_ago is not None:
        request.start_at = now - start_ago
    return request.reference


@pytest.fixture
def coordinator(client, session):
    make_coordinator(session)
    session.commit()
    login(client)


# --- the board -------------------------------------------------------------------------------


def test_an_unfilled_request_leaves_the_board_seven_days_after_its_care_start(client, session, coordinator):
    old = unfilled(session, timedelta(days=8))  # created 8 days ago, no start: off the board
    started_long_ago = unfilled(session, timedelta(days=3), start_ago=timedelta(days=8))  # care began 8 days ago
    planned = unfilled(session, timedelta(days=10), start_ago=timedelta(days=6))  # care began 6 days ago
    recent = unfilled(session, timedelta(days=1))
    session.commit()

    html = client.get("/status/fragment").get_data(as_text=True)
    attention = board_sections(html)["attention"]
    assert planned in attention and recent in attention
    assert old not in html and started_long_ago not in html
    assert "Les demandes non pourvues depuis plus de 7 jours sont dans le filtre" in html
    assert 'href="/status?statut=unfilled"' in html

    every = client.get("/status?statut=unfilled").get_data(as_text=True)  # still reachable
    for reference in (old, started_long_ago, planned, recent):
        assert reference in board_sections(every)["attention"]
    assert client.get(f"/status/requests/{old}").status_code == 200


def test_the_rule_takes_the_time_as_a_parameter(session):
    reference = unfilled(session, timedelta(hours=1))
    session.commit()
    now = utcnow()
    assert [row.reference for row in queries.board(session, now).attention] == [reference]
    assert queries.board(session, now + timedelta(days=7, hours=-2)).attention
    assert not queries.board(session, now + timedelta(days=7, hours=1)).attention


def test_the_unfilled_filter_lists_them_all_newest_first_page_by_page(client, session, coordinator):
    references = [unfilled(session, timedelta(days=30 + i)) for i in range(queries.UNFILLED_PAGE + 2)]
    session.commit()

    def listed(html: str) -> list[str]:
        return re.findall(r'data-reference="(\d+)"', board_sections(html)["attention"])

    first = client.get("/status?statut=unfilled").get_data(as_text=True)
    assert listed(first) == references[: queries.UNFILLED_PAGE]  # newest first
    assert 'href="/status?statut=unfilled&amp;page=2">plus anciennes</a>' in first
    second = client.get("/status/fragment?statut=unfilled&page=2").get_data(as_text=True)
    assert listed(second) == references[queries.UNFILLED_PAGE :]
    assert "plus anciennes" not in second and "plus récentes" in second
    for bad in ("abc", "-1", "0", "²", "1.5"):
        response = client.get(f"/status?statut=unfilled&page={bad}")
        assert response.status_code == 200
        assert listed(response.get_data(as_text=True)) == references[: queries.UNFILLED_PAGE]
    for far in ("9999", "99999999999"):
        response = client.get(f"/status?statut=unfilled&page={far}")
        assert response.status_code == 200 and listed(response.get_data(as_text=True)) == []


def test_a_request_closed_more_than_a_day_ago_is_off_the_board(client, session, coordinator):
    closed = make_request_row(session, SAINT_CHAMOND, "42400", utcnow() - timedelta(days=3), status="confirmed")
    session.commit()
    session.execute(
        text("UPDATE care_requests SET updated_at = :at WHERE id = :id"),
        {"at": (utcnow() - timedelta(days=2)).replace(tzinfo=None), "id": closed.id},
    )
    today = make_request_row(session, SAINT_CHAMOND, "42400", utcnow() - timedelta(hours=3), status="cancelled")
    session.commit()
    html = client.get("/status/fragment").get_data(as_text=True)
    assert today.reference in board_sections(html)["recent"] and closed.reference not in html


# --- the nurses page: folded columns ---------------------------------------------------------


def test_a_nurse_s_folded_name_is_kept_on_every_write(session):
    nurse = make_nurse(session, "Éloïse Ça-Dupré", "06 12 34 56 78", [SAINT_CHAMOND])
    assert nurse.search_text == "eloise ca-dupre"
    nurse.name = "Hélène STRAßE"
    session.flush()
    assert nurse.search_text == "helene strasse"
    session.execute(insert(Nurse), [{"phone": "+33612345679", "name": "Zoé Noël"}])  # a bulk insert
    session.commit()
    assert session.scalar(select(Nurse.search_text).where(Nurse.phone == "+33612345679")) == "zoe noel"
    assert session.get(Commune, "42218").folded_name == "saint-etienne"


def test_the_search_reads_the_folded_columns(client, session, coordinator):
    make_nurse(session, "Éloïse Dupré", "06 12 34 56 78", [SAINT_CHAMOND])
    make_nurse(session, "Anne 100% Dupont", "06 12 34 56 79", ["42218"])
    session.commit()

    def found(query: str) -> list[str]:
        html = client.get("/status/nurses", query_string={"q": query}).get_data(as_text=True)
        return re.findall(r"<tr[^>]*>\s*<td>([^<]+)</td>", html.split("<tbody>", 1)[1])

    assert found("ELOISE") == found("éloïse") == found("loïse d") == ["Éloïse Dupré"]
    assert found("saint-é") == ["Anne 100% Dupont"]  # Saint-Étienne
    assert found("SAINT-") == ["Anne 100% Dupont", "Éloïse Dupré"]  # and Saint-Chamond
    assert found("100%") == ["Anne 100% Dupont"] and found("%") == ["Anne 100% Dupont"]
    assert found("_") == []  # LIKE's wildcards are letters here
    # The column, not Python: a name whose folded copy says otherwise is found by the copy.
    session.execute(text("UPDATE nurses SET search_text = 'zzz' WHERE phone = '+33612345678'"))
    session.commit()
    assert found("zzz") == ["Éloïse Dupré"] and found("eloise") == []


def test_migration_0013_backfills_the_folded_columns(fresh_url):  # noqa: F811
    engine = make_engine(fresh_url)
    try:
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0011_people_rota")
            conn.execute(
                text(
                    "INSERT INTO communes (insee, name, department, lat, lon) "
                    "VALUES ('42218', 'Saint-Étienne', '42', 45.4, 4.4)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO nurses (phone, name, availability, created_at) "
                    "VALUES ('+33612345678', 'Éloïse Dupré', '', '2026-01-01 00:00:00')"
                )
            )
        upgrade(engine)
        with make_sessionmaker(engine)() as session:
            assert session.scalar(select(Nurse.search_text)) == "eloise dupre"
            assert session.get(Commune, "42218").folded_name == "saint-etienne"
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0011_people_rota")
        assert "search_text" not in [c["name"] for c in inspect(engine).get_columns("nurses")]
    finally:
        engine.dispose()


def test_recent_answers_are_each_nurse_s_latest_four(session):
    sophie = make_nurse(session, "Sophie Martin", "06 04 33 21 81", [SAINT_CHAMOND])
    julie = make_nurse(session, "Julie Fournier", "07 69 78 48 01", [SAINT_CHAMOND])
    now = utcnow()
    answered = {sophie.id: [], julie.id: []}
    for i in range(8):
        request = make_request_row(session, SAINT_CHAMOND, "42400", now - timedelta(days=i), status="confirmed")
        for nurse in (sophie, julie):
            status = ("declined", "accepted", "sent")[(i + nurse.id) % 3]
            offer = Offer(request_id=request.id, nurse_id=nurse.id, wave=1, status=status, created_at=now)
            if status != "sent":
                offer.answered_at = now - timedelta(days=i, minutes=nurse.id)
                answered[nurse.id].append(offer)
            session.add(offer)
    session.flush()
    offers = recent_answers(session, [sophie.id, julie.id])
    for nurse_id, mine in answered.items():
        assert [o.id for o in offers if o.nurse_id == nurse_id] == [o.id for o in mine[:RECENT_ANSWERS]]
    assert recent_answers(session, []) == []


def test_a_request_s_timeline_reads_its_events_nurses_in_one_query(session):
    nurses = [make_nurse(session, f"Infirmière {i}", f"06 12 34 57 {i:02d}", [SAINT_CHAMOND]) for i in range(6)]
    request = make_request_row(session, SAINT_CHAMOND, "42400", utcnow(), status="open")
    for nurse in nurses:
        for kind in ("offer_sent", "delivery"):
            session.add(Event(request_id=request.id, nurse_id=nurse.id, kind=kind, data={"wave": 1}, at=utcnow()))
    session.commit()
    session.expunge_all()
    request = session.get(CareRequest, request.id)
    reads: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM nurses" in statement:
            reads.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", note)
    try:
        timeline = queries.request_timeline(session, request, utcnow())
    finally:
        event.remove(engine, "before_cursor_execute", note)
    names = {n.name for n in nurses}
    assert sum(1 for item in timeline if any(name in item.detail for name in names)) == 12
    assert len(reads) <= 2  # the events' nurses, and the offered nurses for the texts


# --- every page reads history through an index -----------------------------------------------

HISTORY = re.compile(r"^SCAN (care_requests|offers|events|messages|calls)\b")


def test_the_pages_read_history_through_indexes(env, tmp_path):
    """SQLite's plan of every statement of the four pages: no table of history read whole."""
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        make_coordinator(session)
        nurses = [make_nurse(session, f"Infirmière {i}", f"06 12 34 56 {i:02d}", [SAINT_CHAMOND]) for i in range(5)]
        requests = [
            make_request_row(session, SAINT_CHAMOND, "42400", utcnow() - timedelta(days=d), status=s)
            for d, s in ((0, "open"), (1, "unfilled"), (3, "confirmed"), (9, "unfilled"), (20, "cancelled"))
        ]
        for request in requests:
            for nurse in nurses:
                session.add(
                    Offer(
                        request_id=request.id,
                        nurse_id=nurse.id,
                        wave=1,
                        status="declined",
                        created_at=request.created_at,
                        answered_at=request.created_at,
                    )
                )
        session.commit()
        reference = requests[0].reference
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and not executemany:
            statements.append((statement, parameters))

    app = create_app({**env, "DATABASE_URL": url})
    client = app.test_client()
    login(client)
    event.listen(Engine, "before_cursor_execute", record)
    try:
        for path in (
            "/status/fragment",
            "/status?statut=unfilled",
            f"/status/requests/{reference}",
            "/status/nurses",
            "/status/nurses?q=etienne",
            "/status/summary",
        ):
            assert client.get(path).status_code == 200, path
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert len(statements) > 20
    scans = []
    with engine.connect() as conn:
        for statement, parameters in statements:
            for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters):
                if HISTORY.match(row[3]):
                    scans.append((row[3], " ".join(statement.split())[:200]))
    engine.dispose()
    reset_services()
    assert scans == []
