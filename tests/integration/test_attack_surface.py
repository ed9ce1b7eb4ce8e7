"""The attack surface, measured (issue #14): the figures of README.md's security section.

- Every webhook route, found in the URL map, gets forged and unsigned requests (no signature,
  the old public constant, another token, another URL, a tampered or added field, random
  headers): none may be taken, and nothing is written.
- Every route, found in the URL map, is asked by a stranger (no session, no token, no signature,
  a CSRF token from the login page, real ids in the URL): the routes that answer anything else
  than a refusal are exactly the public ones README.md lists.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from dispatch.telephony.simulator import save_recording
from models import Call, IvrSession, Message, WebhookReceipt
from tests.support import figures, scenario
from tests.support.browser import form_token

ROOT = Path(__file__).resolve().parents[2]
#: Routes a stranger reaches, on purpose: the login page, the health check, the pages' scripts and
#: styles, and (simulator only) the simulated recordings, at unguessable addresses. (``POST /login``
#: answers a stranger 401: the password is its key.)
PUBLIC = {
    "GET /login",
    "GET /healthz",
    "GET /static/sio/<path:filename>",
    "GET /simulator/recordings/<name>",
}
REFUSALS = {400, 401, 403, 404, 405}
FORMS = {
    "/webhooks/sms": {"Body": "OUI", "MessageSid": "SM" + "f" * 32},
    "/webhooks/sms/status": {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"},
    "/webhooks/voice": {"CallStatus": "ringing"},
    "/webhooks/voice/status": {"CallStatus": "completed"},
}


def webhook_urls(app) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/webhooks"):
            assert rule.methods & {"POST"} and not rule.methods & {"GET", "PUT", "DELETE"}, rule.rule
            urls.append(re.sub(r"<int[^>]*>", "1", rule.rule).replace("<step>", "menu"))
    assert len(urls) >= 6
    return urls


def _form(url: str, region: dict) -> dict[str, str]:
    base = {"AccountSid": "AC" + "0" * 32, "To": "+33900000000", "From": region["nurse"], "CallSid": "CA" + "e" * 32}
    return {**base, **FORMS.get(url.split("?")[0], {"Digits": "1"}), "Body": f"OUI {region['reference']}"}


def _nothing_written(session) -> bool:
    scenario.fresh(session)
    counts = [session.scalar(select(func.count()).select_from(m)) for m in (WebhookReceipt, IvrSession, Call)]
    inbound = session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
    return counts == [0, 0, 0] and inbound == 0


def _forgeries(settings, url: str, form: dict[str, str]) -> list[tuple[str, dict, dict]]:
    """(name, form, headers) of every forged or unsigned version of one genuine request."""
    public = settings.public_base_url

    def signed(token: str, full_url: str, data: dict) -> dict[str, str]:
        return {"X-Twilio-Signature": RequestValidator(token).compute_signature(full_url, data)}

    genuine = signed(settings.twilio_auth_token, public + url, form)
    return [
        ("unsigned", form, {}),
        ("empty signature", form, {"X-Twilio-Signature": ""}),
        ("the old public constant", form, signed("simulator-auth-token", public + url, form)),
        ("another account's token", form, signed("0" * 32, public + url, form)),
        (
            "signed for make run's address",
            form,
            signed(settings.twilio_auth_token, "http://127.0.0.1:5000" + url, form),
        ),
        ("signed for another route", form, signed(settings.twilio_auth_token, public + "/webhooks/x", form)),
        ("a field changed", {**form, "From": "+33699999999"}, genuine),
        ("a field added", {**form, "Digits": "0"}, genuine),
        ("no field signed", form, signed(settings.twilio_auth_token, public + url, {})),
        ("a query added", form, signed(settings.twilio_auth_token, public + url + "?m=1", form)),
    ]


def test_forged_or_unsigned_webhooks_are_never_taken(app, client, session, settings):
    token = scenario.seed_region(session, nurses=3)
    reference = scenario.post_request(client, token).json["reference"]
    scenario.work(settings)
    request = scenario.request_by_ref(session, reference)
    region = {"reference": reference, "nurse": request.offers[0].nurse.phone}
    scenario.fresh(session)
    assert _nothing_written(session)
    for url in webhook_urls(app):
        for name, form, headers in _forgeries(settings, url, _form(url, region)):
            response = client.post(url, data=form, headers=headers)
            figures.forged(accepted=response.status_code != 403)
            assert response.status_code == 403, (url, name, response.status_code)
    assert _nothing_written(session)
    assert scenario.request_by_ref(session, reference).status == "open"
    genuine = _form("/webhooks/sms", region)
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(
        settings.public_base_url + "/webhooks/sms", genuine
    )
    assert client.post("/webhooks/sms", data=genuine, headers={"X-Twilio-Signature": signature}).status_code == 200


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_signatures_are_never_taken(app, client, data):
    url = data.draw(st.sampled_from(webhook_urls(app)))
    signature = data.draw(st.text(alphabet=st.characters(codec="latin-1", exclude_categories=("Cc",)), max_size=60))
    form = data.draw(st.dictionaries(st.sampled_from(["Body", "From", "CallSid", "MessageSid", "Digits"]), st.text()))
    response = client.post(url, data=form, headers={"X-Twilio-Signature": signature})
    figures.forged(accepted=response.status_code != 403)
    assert response.status_code == 403


def test_routes_reachable_without_login_are_the_public_ones(app, session, settings):
    token = scenario.seed_region(session, nurses=2)
    owner = app.test_client()
    reference = scenario.post_request(owner, token).json["reference"]
    scenario.work(settings)
    nurse_id = scenario.request_by_ref(session, reference).offers[0].nurse_id
    recording = "RE" + "7" * 32
    save_recording(settings, recording, "Mme Vernier, code 1234B")
    values = {
        "reference": reference,
        "filename": "sio.css",
        "token": "not-a-signed-link",
        "name": recording,
        "step": "menu",
        "link": "not-a-signed-link",  # a nurse's texted link (issue 16)
        "insee": "42207",
    }

    stranger = app.test_client()
    csrf = form_token(stranger)  # anyone can read the login page's token
    reached, routes = [], []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            path = re.sub(r"<int[^>]*>", str(nurse_id), rule.rule)
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: values[m[1]], path)
            response = stranger.get(path) if method == "GET" else stranger.post(path, data={"csrf_token": csrf})
            name = f"{method} {rule.rule}"
            routes.append(name)
            refused = response.status_code in REFUSALS or (
                response.status_code == 302 and response.headers["Location"].startswith("/login")
            )
            if not refused:
                reached.append(name)
    figures.ROUTES[:] = routes
    figures.OPEN_ROUTES[:] = sorted(reached)
    assert set(reached) == PUBLIC, sorted(set(reached) ^ PUBLIC)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Security") :]
    for name in PUBLIC:
        assert f"`{name}`" in section, f"README.md's security section does not list {name}"
