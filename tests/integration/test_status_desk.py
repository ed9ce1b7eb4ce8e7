"""The coordinator's desk (issue #15): a request entered from a call, a transferred call on the
board and the form prefilled from it, an edit and the nurses' text, the board's requester and
filters, the request page's live part. Through the Flask client, jobs run by a burst worker."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from dispatch.people.tokens import issue_token
from models import CareRequest, Event, IvrSession, Message
from tests.support.browser import fresh, login, make_coordinator, post_form
from tests.support.helpers import make_nurse, make_requester, no_planning, post_signed, run_jobs
from workers.queue import get_queue

SAINT_CHAMOND = "42207"
ACTOR = "coordinatrice Martine Roche"
CALLER = "+33477000001"


@pytest.fixture
def world(client, session, settings):
    make_coordinator(session)
    nurses = [
        make_nurse(session, f"Infirmière {name}", f"06 12 34 56 {i:02d}", [SAINT_CHAMOND])
        for i, name in enumerate(("Alice", "Béatrice", "Chloé", "Diane", "Élise"))
    ]
    requester = make_requester(session, phones=("04 77 00 00 01",))
    token = issue_token(session, requester)
    session.commit()
    login(client)
    return SimpleNamespace(nurses=nurses, requester=requester, token=token)


FORM = {
    "place": "42400 Saint-Chamond",
    "care_type": "pansement",
    "day": "tomorrow",
    "time": "9h30",
    "usual_nurse": "",
    "requester": "Ehpad Les Tilleuls",
    "callback_phone": "04 77 00 00 01",
    "notes": "Mme Vernier, 12 rue des Lilas, code 1234",
}


def enter(client, **fields):
    return post_form(client, "/status/requests", {**FORM, **fields}, page="/status/requests/new")


def by_reference(session, reference: str) -> CareRequest:
    fresh(session)
    return session.scalar(select(CareRequest).where(CareRequest.reference == reference))


def reference_of(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"].rsplit("/", 1)[1]


def texts_to(session, phone: str) -> list[Message]:
    fresh(session)
    return list(session.scalars(select(Message).where(Message.to_phone == phone).order_by(Message.id)))


# -- the new-request form ---------------------------------------------------------------------------


def test_every_status_page_links_to_the_new_request_form(client, world):
    for path in ("/status", "/status/nurses", "/status/requests/new"):
        html = client.get(path).get_data(as_text=True)
        assert 'href="/status/requests/new"' in html and "Nouvelle demande" in html, path


def test_suggestions_find_communes_nurses_and_requesters_whatever_the_accents(client, world):
    names = [c["value"] for c in client.get("/status/lookup/communes.json?q=st etienne").get_json()]
    assert "42000 Saint-Étienne" in names[:3]
    assert "42400 Saint-Chamond" in [
        c["value"] for c in client.get("/status/lookup/communes.json?q=SAINT CHAM").get_json()
    ]
    assert [c["value"] for c in client.get("/status/lookup/communes.json?q=42400").get_json()] == [
        "42400 Saint-Chamond"
    ]
    nurses = [n["value"] for n in client.get("/status/lookup/nurses.json?q=beatrice").get_json()]
    assert nurses == ["Infirmière Béatrice · 06 12 34 56 01"]
    assert client.get("/status/lookup/nurses.json?q=06 12 34 56 04").get_json() == [
        {"value": "Infirmière Élise · 06 12 34 56 04"}
    ]
    assert client.get("/status/lookup/requesters.json?q=tilleul").get_json() == [
        {"value": "Ehpad Les Tilleuls · 04 77 00 00 01", "phone": "04 77 00 00 01"}
    ]


def test_a_request_entered_from_a_call_starts_the_same_dispatch(client, session, settings, world):
    with no_planning():  # the wave job plans the first wave, after the page has answered
        reference = reference_of(enter(client, usual_nurse="Infirmière Béatrice · 06 12 34 56 01", urgent="1"))
    request = by_reference(session, reference)
    assert request.wave == 0 and request.offers == []
    jobs = get_queue(settings).get_jobs()
    assert [(j.func_name, j.args) for j in jobs] == [("workers.jobs.run_wave", (request.id, 0))]
    assert (request.status, request.channel, request.insee, request.care_type) == (
        "open",
        "coordinator",
        SAINT_CHAMOND,
        "pansement",
    )
    assert request.requester_id == world.requester.id and request.urgent and request.has_start_time
    assert request.usual_nurse_id == world.nurses[1].id
    [created] = [e for e in request.events if e.kind == "created"]
    assert created.actor == ACTOR  # the timeline says who entered it
    run_jobs(settings)
    offers = texts_to(session, world.nurses[1].phone)
    assert len(offers) == 1 and f"demande {reference}" in offers[0].body
    assert "Vernier" not in offers[0].body and "1234" not in offers[0].body  # notes never travel by SMS
    page = client.get(f"/status/requests/{reference}").get_data(as_text=True)
    assert ACTOR in page and "Vernier" in page


def test_a_free_requester_name_is_kept_and_marked_unregistered_on_the_board(client, session, world):
    reference = reference_of(enter(client, requester="Dr Paul Girard", callback_phone="06 98 76 54 32"))
    request = by_reference(session, reference)
    assert request.requester_id is None and request.requester_name == "Dr Paul Girard"
    board = client.get("/status/fragment").get_data(as_text=True)
    row = re.search(rf'data-reference="{reference}">(.*?)</tr>', board, re.S).group(1)
    assert "Dr Paul Girard" in row and "non enregistré" in row and "06 98 76 54 32" in row


def test_bad_input_gives_french_errors_by_field_and_keeps_what_was_typed(client, session, world):
    before = len(list(session.scalars(select(CareRequest))))
    response = enter(
        client,
        place="Saint-Introuvable-sur-Mer",
        care_type="massage",
        day="date",
        date="2001-01-01",
        time="25h",
        usual_nurse="Personne Inconnue",
        callback_phone="12",
        notes="x" * 2500,
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field, words in {
        "place": "commune inconnue",
        "care_type": "type de soin inconnu",
        "time": "heure invalide",
        "usual_nurse": "infirmière inconnue",
        "callback_phone": "numéro",
    }.items():
        error = re.search(rf'<p class="field-error" id="err-{field}">([^<]*)</p>', html)
        assert error and words in error.group(1), (field, error and error.group(1))
    assert 'value="Saint-Introuvable-sur-Mer"' in html and 'value="Personne Inconnue"' in html
    fresh(session)
    assert len(list(session.scalars(select(CareRequest)))) == before
    # A past date says so, in the API's words.
    html = enter(client, day="date", date="2001-01-01").get_data(as_text=True)
    assert "date dans le passé" in html


def test_a_name_alone_finds_the_commune_and_a_shared_name_asks_for_the_postcode(client, session, world):
    reference = reference_of(enter(client, place="saint chamond"))
    assert by_reference(session, reference).insee == SAINT_CHAMOND
    html = enter(client, place="Sainte-Colombe").get_data(as_text=True)
    assert "précisez le code postal" in html


# -- transferred calls ------------------------------------------------------------------------------


class Call:
    def __init__(self, client):
        self.client, self.sid = client, "CA" + uuid.uuid4().hex
        self.action = "/webhooks/voice"

    def post(self, path: str, **fields) -> str:
        data = {"CallSid": self.sid, "From": CALLER, "To": "+33900000000", "CallStatus": "in-progress", **fields}
        response = post_signed(self.client, path, data)
        assert response.status_code == 200
        xml = response.get_data(as_text=True)
        actions = re.findall(r'action="http://[^/"]+(/webhooks/voice/[^"]+)"', xml)
        self.action = actions[-1] if actions else self.action
        return xml

    def press(self, digits: str) -> str:
        return self.post(self.action, Digits=digits)


def transfer_a_call(client) -> Call:
    """The Ehpad calls: new request, 42400, pansement, then two wrong answers: transferred."""
    call = Call(client)
    call.post("/webhooks/voice")
    for digits in ("1", "42400", "1", "7"):
        call.press(digits)
    assert "<Dial" in call.press("7")
    return call


def test_a_transferred_call_shows_on_the_board_and_prefills_the_form(client, session, settings, world):
    call = transfer_a_call(client)
    board = client.get("/status/fragment").get_data(as_text=True)
    assert "Appel transféré" in board and "04 77 00 00 01" in board and "Ehpad Les Tilleuls" in board
    assert "code postal 42400" in board and "commune Saint-Chamond" in board
    assert f'href="/status/requests/new?call={call.sid}"' in board
    form = client.get(f"/status/requests/new?call={call.sid}").get_data(as_text=True)
    assert 'value="42400 Saint-Chamond"' in form and 'value="04 77 00 00 01"' in form
    assert '<option value="pansement" selected>' in form and f'name="call" value="{call.sid}"' in form
    reference = reference_of(enter(client, call=call.sid, day="today", time=""))
    assert "Appel transféré" not in client.get("/status/fragment").get_data(as_text=True)
    call.post(call.action, DialCallStatus="completed")  # the coordinator hangs up: no second request
    fresh(session)
    requests = list(session.scalars(select(CareRequest)))
    assert [r.reference for r in requests] == [reference] and requests[0].status == "open"
    assert session.get(IvrSession, call.sid).request_id == requests[0].id
    run_jobs(settings)
    assert any(f"demande {reference}" in m.body for n in world.nurses for m in texts_to(session, n.phone))


def test_a_call_that_ended_before_the_form_leaves_one_request(client, session, world):
    call = transfer_a_call(client)
    call.post(call.action, DialCallStatus="completed")
    fresh(session)
    [review] = list(session.scalars(select(CareRequest)))
    assert review.status == "review"
    assert f"demande {review.reference}" in client.get("/status/fragment").get_data(as_text=True)
    reference = reference_of(enter(client, call=call.sid))
    fresh(session)
    assert by_reference(session, review.reference).status == "cancelled"
    [cancelled] = [e for e in by_reference(session, review.reference).events if e.kind == "cancelled"]
    assert reference in cancelled.data["reason"]
    assert by_reference(session, reference).status == "open"


# -- editing a request ------------------------------------------------------------------------------


def test_an_edit_of_the_start_texts_each_nurse_offered_once(client, session, settings, world):
    reference = reference_of(enter(client))
    run_jobs(settings)
    request = by_reference(session, reference)
    offered = {o.nurse.phone for o in request.offers}
    assert offered
    edit = client.get(f"/status/requests/{reference}/edit").get_data(as_text=True)
    assert "Vernier" in edit and 'value="keep" checked' in edit
    response = post_form(
        client,
        f"/status/requests/{reference}/edit",
        {
            "care_type": "injection",
            "day": "tomorrow",
            "time": "14h",
            "callback_phone": "04 77 00 00 01",
            "notes": FORM["notes"],
            "usual_nurse": "",
        },  # fmt: skip
        page=f"/status/requests/{reference}/edit",
    )
    assert response.status_code == 302
    request = by_reference(session, reference)
    assert request.care_type == "injection" and request.start_at.astimezone(settings.timezone).hour == 14
    [edited] = [e for e in request.events if e.kind == "edited"]
    assert edited.actor == ACTOR and edited.data["fields"] == "soin, début"
    for phone in offered:
        changed = [m for m in texts_to(session, phone) if "modifiée" in m.body]
        assert len(changed) == 1 and "14h" in changed[0].body and "Vernier" not in changed[0].body
    others = {n.phone for n in world.nurses} - offered
    assert not any("modifiée" in m.body for p in others for m in texts_to(session, p))
    # Notes alone: written to the timeline, no text.
    post_form(
        client,
        f"/status/requests/{reference}/edit",
        {"care_type": "injection", "day": "keep", "callback_phone": "04 77 00 00 01", "notes": "2e étage"},
        page=f"/status/requests/{reference}/edit",
    )
    assert by_reference(session, reference).notes == "2e étage"
    assert sum("modifiée" in m.body for p in offered for m in texts_to(session, p)) == len(offered)


def test_a_bad_edit_is_refused_by_field_and_keeps_what_was_typed(client, session, world):
    reference = reference_of(enter(client))
    response = post_form(
        client,
        f"/status/requests/{reference}/edit",
        {"care_type": "pansement", "day": "today", "time": "99:99", "callback_phone": "0899 00 00 00"},
        page=f"/status/requests/{reference}/edit",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="err-time"' in html and 'id="err-callback_phone"' in html and 'value="99:99"' in html
    fresh(session)
    assert not session.scalars(select(Event).where(Event.kind == "edited")).all()


# -- the board --------------------------------------------------------------------------------------


def test_the_board_filters_by_department_and_status(client, session, world):
    here = reference_of(enter(client))
    lyon = reference_of(enter(client, place="69001 Lyon", requester=""))
    board = client.get("/status?dept=42").get_data(as_text=True)
    assert f'data-reference="{here}"' in board and f'data-reference="{lyon}"' not in board
    assert 'data-src="/status/fragment?dept=42"' in board
    fragment = client.get("/status/fragment?dept=69").get_data(as_text=True)
    assert f'data-reference="{lyon}"' in fragment and f'data-reference="{here}"' not in fragment
    assert f'data-reference="{here}"' not in client.get("/status/fragment?statut=review").get_data(as_text=True)
    assert client.get("/status?dept=<script>&statut=nope").status_code == 200


def test_the_request_page_updates_itself_like_the_board(client, session, settings, world):
    reference = reference_of(enter(client))
    page = client.get(f"/status/requests/{reference}").get_data(as_text=True)
    assert f'data-src="/status/requests/{reference}/fragment"' in page and "live.js" in page
    before = client.get(f"/status/requests/{reference}/fragment").get_data(as_text=True)
    run_jobs(settings)
    after = client.get(f"/status/requests/{reference}/fragment").get_data(as_text=True)
    assert "Proposition" in after and after != before


# -- small defects ----------------------------------------------------------------------------------


def test_one_request_is_one_demande(client, session, world):
    reference_of(enter(client))
    html = client.get("/status/summary").get_data(as_text=True)
    assert re.search(r"<strong>1</strong> demande<", html) and "1 demande," in html


def test_links_in_the_simulators_texts_are_clickable_and_the_rest_escaped():
    from status.desk import linkify

    html = str(linkify("SIO: détails <b>ici</b>: http://127.0.0.1:5000/r/abc.def-1?x=1&y=2. Merci"))
    assert '<a href="http://127.0.0.1:5000/r/abc.def-1?x=1&amp;y=2" rel="noreferrer">' in html
    assert "&lt;b&gt;ici&lt;/b&gt;" in html and html.endswith("</a>. Merci")


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_desk_forms_never_answer_500(client, session, world, data):
    field = st.sampled_from(["place", "care_type", "day", "date", "time", "usual_nurse", "requester",
                             "callback_phone", "notes", "urgent", "call"])  # fmt: skip
    junk = st.one_of(
        st.text(max_size=40),
        st.sampled_from(["9999-12-31", "0001-01-01", "31/02/2026", "23h59", "24:00", "0", "+33" + "9" * 30, "\x00"]),
    )
    form = data.draw(st.dictionaries(field, junk, max_size=8))
    for path, page in (("/status/requests", "/status/requests/new"),):
        response = post_form(client, path, {**FORM, **form}, page=page)
        assert response.status_code in (302, 422), response.get_data(as_text=True)[:300]
    reference = session.scalar(select(CareRequest.reference))
    if reference:
        response = post_form(client, f"/status/requests/{reference}/edit", {**FORM, **form}, page="/status")
        assert response.status_code in (302, 422)
    for kind in ("communes", "nurses", "requesters"):
        assert client.get(f"/status/lookup/{kind}.json", query_string={"q": data.draw(junk)}).status_code == 200


def test_a_forged_call_id_prefills_nothing(client, world):
    for call in ("\x00", "CA\x00" + "0" * 32, "../x", "C" * 500):
        assert client.get("/status/requests/new", query_string={"call": call}).status_code == 200
        assert enter(client, call=call).status_code == 302  # entered, linked to no call
