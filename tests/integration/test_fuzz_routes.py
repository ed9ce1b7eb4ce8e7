"""Every route of the app, fuzzed (issue #14 §4): whatever comes in, never a 500 (the 502 and
503 that say a part is down are answers: ``figures.MEANT_5XX``).

The routes are read from the app's URL map, so a route added later is fuzzed too. The client is a
logged-in coordinator with a valid CSRF token (the pages' code runs, not only the login check);
API routes get the requester's token, webhooks a valid signature, half of the time. Values are
those that gave 500s before: dates at the edges of what Python can hold (year 1, year 9999 with a
-14:00 offset), integers past any database column, JSON nested 100,000 deep, and junk.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from urllib.parse import unquote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from dispatch.messaging.links import details_token
from dispatch.people.space_access import issue_link
from models import Coordinator, MessageToRead, Pole, Requester, RotaException, RotaShift
from tests.support import figures, scenario
from tests.support.browser import form_token, login, make_coordinator
from tests.support.redis_server import free_port

FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EDGE_DATES = [
    "0001-01-01",
    "0001-01-01T00:00:00",
    "0001-01-01T00:30:00+14:00",
    "9999-12-31",
    "9999-12-31T23:00:00-14:00",
    "9999-12-31T23:59:59.999999",
    "2026-02-30",
    "2026-13-01",
    "0000-00-00",
    "-0001-01-01",
    "99999-01-01",
    "1970-01-01T00:00:00Z",
    "2038-01-19T03:14:08+00:00",
    "20260101",
    "2026-W01",
]
HUGE_INTS = [0, -1, 2**31 - 1, 2**31, 2**53 + 1, 2**63, 2**64, 10**20, 99999999999999999999, -(2**63) - 1]
DEEP_JSON = ["[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000]
FIELDS = (
    "jour",
    "q",
    "etat",
    "next",
    "open",
    "back",
    "nurse_id",
    "days",
    "reason",
    "note",
    "on_duty",
    "from",
    "body",
    "state",
    "action",
    "value",
    "email",
    "password",
    "m",
    "c",
    "Body",
    "From",
    "Digits",
    "CallSid",
    "MessageSid",
    "MessageStatus",
    "CallStatus",
    "start_at",
    "postcode",
    "callback_phone",
    # the coordinator's desk (issue #15): the new-request and edit forms, the suggestions
    "place",
    "care_type",
    "day",
    "date",
    "time",
    "usual_nurse",
    "requester",
    "urgent",
    "notes",
    "call",
    "dept",
    "statut",
    "motif",
    # the nurse's space and registration (issue 16)
    "commune",
    "starts_on",
    "ends_on",
    "skills",
    "always",
    "d0_s1",
    "d0_e1",
    "name",
    "rpps",
    "zones",
    # the people pages and the rota (issue #16)
    "phone",
    "availability",
    "kind",
    "phones",
    "role",
    "pole_id",
    "pole",
    "coordinator_id",
    "weekday",
    "starts",
    "ends",
    "on_date",
    "departments",
    "current",
    "new",
    "confirm",
    "skip_invalid",
)
OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14)), None])
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
dates = st.one_of(
    st.sampled_from(EDGE_DATES),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59), timezones=OFFSETS).map(
        lambda d: d.isoformat()
    ),
    st.dates().map(lambda d: d.isoformat()),
)
integers = st.one_of(st.sampled_from(HUGE_INTS), st.integers(min_value=-(2**80), max_value=2**80))
values = st.one_of(dates, integers.map(str), text, st.sampled_from(["", "0", "1", "1e309", "NaN", " 12 ", "١٢"]))


def json_values():
    leaves = st.none() | st.booleans() | integers | st.floats(allow_nan=False) | dates | text
    return st.recursive(
        leaves, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(text, kids, max_size=3), max_leaves=8
    )


@pytest.fixture
def env(env):
    # The simulator's pages post to PUBLIC_BASE_URL: a local port nobody listens on fails at once.
    env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{free_port()}"
    return env


@pytest.fixture
def world(app, client, session, settings):
    """A logged-in coordinator, a requester's token, a request whose first wave went out."""
    token = scenario.seed_region(session, nurses=4)
    reference = scenario.post_request(client, token).json["reference"]
    scenario.work(settings)
    request = scenario.request_by_ref(session, reference)
    # A text that is no command: a message to read (issue 15), for the /status/messages/<id> routes.
    scenario.reply(client, scenario.nurse_phone(0), "je vous rappelle tout à l'heure")
    scenario.work(settings)
    scenario.fresh(session)
    to_read = session.scalar(select(MessageToRead.id))
    assert to_read is not None
    me = make_coordinator(session)
    me.role = "admin"  # the admin pages' code runs too
    people = people_rows(session, me)
    session.commit()  # ends the read people_rows began: on SQLite a stale snapshot cannot write later
    assert login(client).status_code == 302
    links = _nurse_links(client, session, settings, request.offers[0].nurse)
    return {
        "links": links,
        **people,
        "token": token,
        "csrf": form_token(client, "/status"),
        "reference": reference,
        "nurse_ids": [o.nurse_id for o in request.offers],
        "message_ids": [to_read],
        "link": details_token(settings, reference, datetime.now(UTC), request.offers[0].nurse_id),
    }


def _nurse_links(client, session, settings, nurse) -> list[str]:
    """The client also opens a nurse's space (issue 16); links to the registration form and to
    her space, for the fuzzed ``<link>``s."""
    now = datetime.now(UTC)
    opened = issue_link(session, settings, "profile", nurse.phone, now, nurse=nurse).rsplit("/", 1)[1]
    fresh_links = [
        issue_link(session, settings, "register", "+33611223344", now).rsplit("/", 1)[1],
        issue_link(session, settings, "profile", nurse.phone, now, nurse=nurse).rsplit("/", 1)[1],
    ]
    session.commit()
    assert client.post(f"/moi/lien/{opened}", data={"csrf_token": form_token(client, "/status")}).status_code == 302
    return fresh_links


def people_rows(session, me) -> dict[str, list[int]]:
    """Rows for the people pages' and the rota's path variables: a colleague, a pole, a shift, an
    exception, the requester."""
    colleague = Coordinator(email="paul@sio.test", name="Paul", phone="+33611000009", password_hash="x")
    pole = Pole(name="Saint-Chamond", departments="42 69")
    session.add_all([colleague, pole])
    session.flush()
    shift = RotaShift(coordinator_id=colleague.id, weekday=1, starts=540, ends=1170)
    change = RotaException(coordinator_id=colleague.id, on_date=date(2026, 12, 8), on_duty=False, note="")
    session.add_all([shift, change])
    me.pole_id = pole.id
    session.commit()
    return {
        "colleague_id": [colleague.id],
        "pole_id": [pole.id],
        "shift_id": [shift.id],
        "exception_id": [change.id],
        "requester_id": [session.scalar(select(Requester.id))],
    }


def routes(app) -> list[tuple[str, str]]:
    """(rule, method) for every route of the app."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method))
    assert len(found) > 30
    return found


def known_values(name: str, converter: str, world: dict) -> list[str]:
    """Values of a path variable that reach real rows (the first one a real row)."""
    if converter.startswith("int"):
        rows = world["message_ids"] if name == "item_id" else world.get(name, world["nurse_ids"])
        return [str(i) for i in rows] + ["0", "1", str(2**31 - 1)]
    return {
        "reference": [world["reference"], "000000", "12345678901234567890"],
        "token": [world["link"], world["link"][:-3] + "abc"],
        "filename": ["sio.css", "../../etc/passwd", "%2e%2e/secret_key"],
        "step": ["menu", "postcode", "care", "callback", "x"],
        "name": ["RE" + "0" * 32 + ".txt", "../secret_key"],
        "link": [*world["links"], world["links"][0][:-3] + "abc"],
        "insee": ["42207", "2A004", "../x"],
    }.get(name, ["x"])


def fill(rule: str, pick) -> str:
    """The rule with every ``<converter:name>`` replaced by ``pick(name, converter)``, URL-safe."""

    def one(match: re.Match) -> str:
        value = pick(match[2], match[1] or "") or "x"
        return value.replace("/", "%2F").replace("?", "%3F").replace("#", "%23")

    return re.sub(r"<(?:([a-z]+(?:\([^)]*\))?):)?([a-z_]+)>", one, rule)


def drawn(world: dict, draw):
    """``fill``'s pick for hypothesis: a known value, an edge date, a huge number or junk."""

    def pick(name: str, converter: str) -> str:
        known = st.sampled_from(known_values(name, converter, world))
        if converter.startswith("int"):
            return draw(st.one_of(known, integers.map(str)))
        return draw(st.one_of(known, dates, integers.map(str), text))

    return pick


def send(client, settings, world, method: str, path: str, data):
    """One fuzzed request; its status is counted for the figures."""
    form = data.draw(st.dictionaries(st.sampled_from(FIELDS) | text, values, max_size=6), label="form")
    query = data.draw(st.dictionaries(st.sampled_from(FIELDS), values, max_size=3), label="query")
    headers = {}
    if path.startswith("/api/") and data.draw(st.booleans(), label="token"):
        headers["Authorization"] = f"Bearer {world['token']}"
    body_kind = data.draw(st.sampled_from(["form", "form", "json", "deep"]), label="body")
    query_string = urlencode(query)
    kwargs = {"query_string": query_string, "headers": headers}
    if method == "POST":
        if body_kind == "form":
            if data.draw(st.booleans(), label="csrf"):
                form["csrf_token"] = world["csrf"]
            kwargs["data"] = form
            if path.startswith("/webhooks/") and data.draw(st.booleans(), label="signed"):
                url = settings.public_base_url + unquote(path) + (f"?{query_string}" if query_string else "")
                headers["X-Twilio-Signature"] = RequestValidator(settings.twilio_auth_token).compute_signature(
                    url, form
                )
        elif body_kind == "json":
            kwargs["data"] = json.dumps(data.draw(json_values(), label="json"))
            kwargs["content_type"] = "application/json"
        else:
            kwargs["data"] = data.draw(st.sampled_from(DEEP_JSON), label="deep json")
            kwargs["content_type"] = "application/json"
    return getattr(client, method.lower())(path, **kwargs)


@FUZZ
@given(data=st.data())
def test_no_route_answers_500(app, client, settings, world, data):
    rule, method = data.draw(st.sampled_from(routes(app)), label="route")
    if rule in ("/logout", "/status/sessions/end", "/moi/deconnexion", "/moi/sessions/fin", "/moi/effacement"):
        client = app.test_client()  # a stranger's: the coordinator's session must outlive the run
    path = fill(rule, drawn(world, data.draw))
    response = send(client, settings, world, method, path, data)
    assert not figures.fuzzed(response.status_code), (method, path, response.get_data(as_text=True)[:300])


def test_every_route_with_the_inputs_that_gave_500s(app, client, world):
    """Each route and method once with a JSON 100,000 deep, with edge dates and huge numbers in
    every field, and with them in every path variable: a fixed sweep of the values drawn above."""
    headers = {"Authorization": f"Bearer {world['token']}"}
    sweep = [*EDGE_DATES[:6], *map(str, HUGE_INTS[-5:])]

    def check(method: str, path: str, **kwargs) -> None:
        response = getattr(client, method.lower())(path, headers=headers, **kwargs)
        assert not figures.fuzzed(response.status_code), (method, path, kwargs)

    for rule, method in routes(app):
        if rule in ("/logout", "/status/sessions/end", "/moi/deconnexion", "/moi/sessions/fin", "/moi/effacement"):
            continue
        real = fill(rule, lambda name, converter: known_values(name, converter, world)[0])
        check(method, real, data=DEEP_JSON[0], content_type="application/json")
        for value in sweep:
            fields = dict.fromkeys(FIELDS, value)
            if method == "GET":
                check(method, real, query_string=fields)
            else:
                check(method, real, data={**fields, "csrf_token": world["csrf"]})
            if "<" in rule:
                check(method, fill(rule, lambda name, converter, v=value: v))
