"""Fuzzing (issue 6 §3): whatever reaches a webhook or the API, the answer is never a 500.

Webhooks get validly signed forms (so the handlers, not only the signature check, see the
junk) as well as unsigned ones: random unicode, huge values, missing fields, repeated keys,
numbers where text is expected. Every ``/webhooks/...`` route the app has is fuzzed, found
from its URL map. Property tests: the reply grammar never raises; an offer is one GSM-7 segment.
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from dispatch import gsm, texts
from dispatch.messaging.grammar import KINDS, parse_nurse_reply
from dispatch.vocab import CARE_TYPES
from tests.integration.test_fuzz_routes import DEEP_JSON, EDGE_DATES
from tests.support import figures, scenario
from tests.support.browser import login, make_coordinator, post_form

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Every field Twilio sends to one of our webhooks, and a few it never sends.
FIELDS = (
    "MessageSid",
    "SmsSid",
    "AccountSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "MessageStatus",
    "ErrorCode",
    "CallSid",
    "CallStatus",
    "Digits",
    "RecordingUrl",
    "RecordingDuration",
    "AnsweredBy",
    "DialCallStatus",
    "Direction",
    "SpeechResult",
    "FinishedOnKey",
    "msg",
    "",
)
REPLIES = (
    "OUI",
    "NON",
    "oui 123456",
    "N",
    "1",
    "2",
    "PAUSE 3",
    "DISPO",
    "DESISTE",
    "STOP",
    "ARRET",
    "START",
    "AIDE",
    "42400 pansement demain 9h",
    "ANNULER 123456",
)

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)
# What an HTTP header can carry at all (no line breaks): a forged signature.
header_text = st.text(alphabet=st.characters(codec="latin-1", exclude_categories=("Cc",)), max_size=100)
huge = st.integers(min_value=2_000, max_value=20_000).map(lambda n: "é9" * n)
weird_numbers = st.sampled_from(["", "0", "-1", "1e309", "NaN", "99999999999999999999999", "0x1F", " 12 ", "١٢٣"])


def _value(known: list[str]):
    return st.one_of(text, huge, weird_numbers, st.sampled_from(known + list(REPLIES)))


def _form(known: list[str]):
    """A list of (key, value) pairs: keys may repeat, be missing, or be unknown."""
    key = st.one_of(st.sampled_from(FIELDS), text.filter(lambda s: len(s) < 40))
    return st.lists(st.tuples(key, _value(known)), max_size=10)


@pytest.fixture
def region(client, session, settings):
    """An open request whose first wave went out, so replies and callbacks meet real rows."""
    token = scenario.seed_region(session, nurses=5)
    created = scenario.post_request(client, token)
    assert created.status_code == 201
    scenario.work(settings)
    request = scenario.request_by_ref(session, created.json["reference"])
    messages = scenario.texts_to(session, scenario.nurse_phone(0)) + scenario.texts_to(session, scenario.nurse_phone(1))
    return {
        "token": token,
        "reference": request.reference,
        "known": [scenario.nurse_phone(i) for i in range(5)]
        + [request.reference, scenario.CALLBACK]
        + [m.sid for m in messages if m.sid]
        + [str(m.id) for m in messages],
    }


def _webhook_paths(app) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/webhooks") and "POST" in rule.methods:
            paths.append(rule.rule)
    assert {"/webhooks/sms", "/webhooks/sms/status"} <= set(paths)
    return paths


def _concrete(path: str, segment: str, number: int) -> str:
    """Fill a rule's variables: ``<int:x>`` with a number, ``<x>`` with a URL-safe segment."""
    out = []
    for part in path.split("/"):
        if part.startswith("<int:"):
            out.append(str(number))
        elif part.startswith("<"):
            out.append(segment)
        else:
            out.append(part)
    return "/".join(out)


def _ivr_steps() -> list[str]:
    try:
        from dispatch.intake import ivr
    except ImportError:
        return ["menu"]
    return list(getattr(ivr, "_STEPS", {"menu": None}))


@FUZZ
@given(data=st.data())
def test_webhooks_never_answer_500(app, client, settings, region, data):
    paths = _webhook_paths(app)
    path = data.draw(st.sampled_from(paths), label="route")
    segment = data.draw(st.one_of(st.sampled_from(_ivr_steps()), st.text(string.ascii_letters + "-_", max_size=30)))
    number = data.draw(st.one_of(st.integers(0, 10), st.integers(0, 2**70)))
    url = _concrete(path, segment or "x", number)
    query = data.draw(st.sampled_from(["", "?m=1", "?c=1", "?m=abc", "?c=-5", "?m=99999999999999999999", "?m=1&m=2"]))
    pairs = data.draw(_form(region["known"]), label="form")
    form = MultiDict(pairs)
    signed = data.draw(st.booleans(), label="signed")
    signature = (
        RequestValidator(settings.twilio_auth_token).compute_signature(settings.public_base_url + url + query, form)
        if signed
        else data.draw(header_text)
    )
    response = client.post(url + query, data=form, headers={"X-Twilio-Signature": signature})
    assert not figures.fuzzed(response.status_code), (url, query, pairs, response.get_data(as_text=True)[:300])
    if not signed:
        assert response.status_code in (403, 404, 405, 413)


@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/sms/status?m=99999999999999999999",
        "/webhooks/sms/status?m=-1",
        "/webhooks/voice/status?c=99999999999999999999",
        f"/webhooks/voice/outbound/{2**70}",
    ],
)
def test_out_of_range_ids_in_webhook_urls(client, settings, path):
    """Ids Twilio never sends (we built the URLs), but a forged or mangled one must not crash."""
    form = {
        "MessageSid": "SM" + "0" * 32,
        "CallSid": "CA" + "0" * 32,
        "MessageStatus": "delivered",
        "CallStatus": "completed",
    }
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(settings.public_base_url + path, form)
    response = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code < 500


@pytest.mark.parametrize("field", ["Body", "From", "MessageSid", "To"])
def test_webhook_nul_characters(client, settings, region, field):
    """PostgreSQL refuses NUL in text; a NUL in any field Twilio posts must not crash the webhook."""
    form = {"MessageSid": "SM" + "1" * 32, "From": scenario.nurse_phone(0), "To": "+33900000000", "Body": "OUI"}
    form[field] = form[field][:3] + "\x00" + form[field][3:]
    for path in ("/webhooks/sms", "/webhooks/sms/status"):
        signature = RequestValidator(settings.twilio_auth_token).compute_signature(
            settings.public_base_url + path, form
        )
        response = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
        assert response.status_code < 500, (path, field)


def _json_value():
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**80), max_value=2**80)
        | st.floats(allow_nan=False)
        | text
        | huge,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
        max_leaves=8,
    )


API_FIELDS = ("postcode", "insee", "care_type", "start_at", "usual_nurse_phone", "callback_phone", "notes", "urgent")
GOOD = {"postcode": "42400", "care_type": "pansement", "callback_phone": "04 77 00 00 01"}
# Every date Python holds, with the offsets that push year 1 or year 9999 out of range (issue #14 §4).
dates = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14))]),
    ).map(lambda d: d.isoformat()),
    st.sampled_from(EDGE_DATES),
)


@FUZZ
@given(data=st.data())
def test_api_never_answers_500(app, client, region, data):
    app.config["RATELIMIT_API"] = "100000/minute"  # the limiter is tested elsewhere; here the validation
    base = data.draw(st.sampled_from([{}, GOOD]))
    changes = data.draw(
        st.dictionaries(
            st.sampled_from(API_FIELDS) | text,
            st.one_of(_json_value(), dates, st.sampled_from(CARE_TYPES), weird_numbers),
            max_size=6,
        )
    )
    removed = data.draw(st.lists(st.sampled_from(API_FIELDS), max_size=3))
    body = {k: v for k, v in {**base, **changes}.items() if k not in removed}
    raw = json.dumps(body)
    shape = data.draw(st.sampled_from(["json", "array", "broken", "repeated", "form"]))
    headers = {"Authorization": f"Bearer {region['token']}"}
    if shape == "array":
        raw = json.dumps([body])
    elif shape == "broken":
        raw = raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))]
    elif shape == "repeated":  # the same key twice: JSON allows it, the last one wins
        raw = raw[:-1] + (", " if body else "") + '"care_type": "perfusion", "care_type": 7}'
    if shape == "form":
        response = client.post("/api/v1/requests", data={k: str(v)[:100] for k, v in body.items()}, headers=headers)
    else:
        response = client.post("/api/v1/requests", data=raw, content_type="application/json", headers=headers)
    figures.fuzzed(response.status_code)
    assert response.status_code in (201, 401, 413, 422), (raw[:500], response.get_data(as_text=True)[:300])
    if response.status_code == 422:
        assert response.get_json()["errors"]

    reference = data.draw(
        st.one_of(st.sampled_from([region["reference"], "000000"]), text.filter(lambda s: "/" not in s))
    )
    for method, path in (("get", f"/api/v1/requests/{reference}"), ("post", f"/api/v1/requests/{reference}/cancel")):
        answer = getattr(client, method)(path, headers=headers)
        assert answer.status_code in (200, 404, 405, 409), (path, answer.status_code)


@pytest.mark.parametrize("field", ["notes", "postcode", "callback_phone", "care_type", "start_at"])
def test_api_nul_characters(client, region, field):
    """PostgreSQL refuses NUL in text: a NUL typed into any field is a 422 or is dropped, never a 500."""
    body = {**GOOD, "notes": "ok", field: "42\x00400" if field != "notes" else "plaie\x00talon"}
    response = client.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {region['token']}"})
    assert response.status_code in (201, 422)


# --- the 500s of issue #14 §4, one by one ---------------------------------------------------------


@pytest.mark.parametrize("start_at", ["0001-01-01", "9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00+14:00"])
def test_500s_api_start_at_at_the_edges_is_a_422(client, region, start_at):
    body = {**GOOD, "start_at": start_at}
    response = client.post("/api/v1/requests", json=body, headers={"Authorization": f"Bearer {region['token']}"})
    assert response.status_code == 422
    assert response.get_json()["errors"]["start_at"]


@pytest.mark.parametrize("body", DEEP_JSON)
def test_500s_json_nested_100000_deep_is_a_422(client, region, body):
    headers = {"Authorization": f"Bearer {region['token']}"}
    response = client.post("/api/v1/requests", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 422
    assert response.get_json()["errors"]["body"]


def test_500s_summary_of_a_day_at_the_edges(client, session):
    make_coordinator(session)
    login(client)
    for day in ("0001-01-01", "9999-12-31", "2026-02-30", "x"):
        page = client.get(f"/status/summary?jour={day}")
        assert page.status_code == 200, day
        assert "Bilan du" in page.get_data(as_text=True)
        assert 'class="flash error"' in page.get_data(as_text=True), day
    assert 'class="flash error"' not in client.get("/status/summary?jour=2024-03-01").get_data(as_text=True)


def test_500s_assign_a_nurse_id_past_any_column(client, session, region):
    make_coordinator(session)
    login(client)
    for nurse_id in ("99999999999999999999", str(2**31), "-1", "0"):
        response = post_form(client, f"/status/requests/{region['reference']}/assign", {"nurse_id": nurse_id})
        assert response.status_code == 302, nurse_id
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "Choisissez une infirmière dans la liste." in page
    assert scenario.request_by_ref(session, region["reference"]).status == "open"


def test_api_nul_in_reference(client, region):
    headers = {"Authorization": f"Bearer {region['token']}"}
    assert client.get("/api/v1/requests/12%0034", headers=headers).status_code == 404
    assert client.post("/api/v1/requests/12%0034/cancel", headers=headers).status_code == 404


def test_api_refuses_a_huge_body(client, region):
    body = json.dumps({**GOOD, "notes": "x" * 400_000})
    response = client.post(
        "/api/v1/requests",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {region['token']}"},
    )
    assert response.status_code in (413, 422)


# --- properties of the domain -------------------------------------------------------------------


@settings(max_examples=800, deadline=None, database=None)
@given(body=st.one_of(text, huge, st.sampled_from(REPLIES).flatmap(lambda r: text.map(lambda t: r + t))))
def test_reply_grammar_never_crashes(body):
    command = parse_nurse_reply(body)
    assert command.kind in KINDS
    if command.reference is not None:
        assert len(command.reference) == 6 and command.reference.isdigit()


aware = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@settings(max_examples=800, deadline=None, database=None)
@given(
    name=st.one_of(st.just("SIO"), text),
    commune=st.one_of(text, st.text(alphabet="ÂâÊêÎîÔôÛûÇçËëÏïŸÿŒœÆæ-' ", max_size=120)),
    postcode=st.one_of(st.just(""), st.from_regex(r"\A[0-9]{5}\Z")),
    care_type=st.one_of(st.sampled_from(CARE_TYPES), text),
    start=st.one_of(st.none(), aware),
    has_time=st.booleans(),
    reference=st.from_regex(r"\A[0-9]{6}\Z"),
    urgent=st.booleans(),
    now=aware,
)
def test_an_offer_is_one_gsm7_segment(name, commune, postcode, care_type, start, has_time, reference, urgent, now):
    body = texts.offer(name, commune, postcode, care_type, start, has_time, reference, urgent, now)
    assert gsm.is_gsm7(body), body
    assert gsm.segments(body) == 1, (gsm.septets(body), body)
    assert reference in body
