"""``/simulator``: try the whole service on one machine, with phones in the browser.

Only with ``TELEPHONY=simulator`` (404 otherwise). A phone calls the service and plays its
TwiML; every person's phone shows their texts and calls and can answer. Everything goes
through the real webhook routes over HTTP, signed like Twilio (``status.sim_http``), so the
production code path is the one that runs. The call in progress lives in the page, as a
signed token: any web worker can take the next step.
"""

from __future__ import annotations

import hashlib
import time

from flask import Blueprint, Response, abort, jsonify, render_template, request
from itsdangerous import BadSignature, URLSafeSerializer

from dispatch.app.context import db, services
from dispatch.clock import utcnow
from dispatch.phones import try_normalize
from dispatch.telephony.simulator import read_recording, save_recording, tone_wav
from dispatch.telephony.urls import Urls
from models import Call
from status import sim_store
from status.sim_http import ServiceError, account_sid, new_sid, send_sms, twilio_request
from status.twiml_player import Player, Screen, TwimlError
from status.web import require_login

bp = Blueprint("simulator", __name__, url_prefix="/simulator")
VOICE_PATH = "/webhooks/voice"
MAX_PHONES = 60


@bp.before_request
def _guard():
    if services().settings.telephony != "simulator":
        abort(404)
    if request.endpoint == "simulator.recording":
        return None  # an unguessable address, like Twilio's recording URLs (the nurse's page plays it)
    return require_login()


def _tokens() -> URLSafeSerializer:
    return URLSafeSerializer(services().settings.secret_key, salt="sio.simulator-call")


@bp.get("")
def index():
    settings = services().settings
    people = sim_store.contacts(db())
    return render_template(
        "simulator.html",
        people=people,
        service_number=settings.twilio_phone_number,
        requesters=[p for p in people if p.role == "requester"],
    )


# --- the phones of the people -----------------------------------------------------------------


@bp.get("/phones.json")
def phones():
    """Each open phone's feed; the page asks every two seconds and redraws what changed."""
    session = db()
    people = {p.phone: p for p in sim_store.contacts(session)}
    wanted = [p for p in request.args.get("open", "").split(",") if p in people][:MAX_PHONES]
    shown = [p.phone for p in people.values() if p.role == "requester"]
    active = sim_store.active_phones(session, utcnow())
    shown += [phone for phone in people if phone in active and phone not in shown]
    shown += [phone for phone in wanted if phone not in shown]
    result = []
    for phone in shown[:MAX_PHONES]:
        items, ringing = sim_store.phone_feed(session, phone)
        feed = render_template("_phone_feed.html", items=items, ringing=ringing)
        result.append(
            {
                "phone": phone,
                "version": hashlib.sha1(feed.encode(), usedforsecurity=False).hexdigest(),
                "feed": feed,
                "card": render_template("_phone_card.html", person=people[phone]),
            }
        )
    return jsonify(phones=result), 200, {"Cache-Control": "no-store"}


@bp.post("/sms")
def sms():
    settings = services().settings
    sender = try_normalize(request.form.get("from", ""))
    body = request.form.get("body", "").strip()[:1600]
    if sender is None or not body:
        return jsonify(error="Indiquez un numéro valide et un texte."), 422
    try:
        send_sms(settings, sender, body)
    except ServiceError as err:
        return jsonify(error=f"SMS non transmis : {err}"), 502
    return jsonify(ok=True)


# --- calls --------------------------------------------------------------------------------------


def _params(ctx: dict, status: str = "in-progress") -> dict[str, str]:
    """What Twilio posts with every request of a call."""
    params = {
        "CallSid": ctx["sid"],
        "AccountSid": account_sid(services().settings),
        "From": ctx["from"],
        "To": ctx["to"],
        "Caller": ctx["from"],
        "Called": ctx["to"],
        "CallStatus": status,
        "Direction": ctx["direction"],
        "ApiVersion": "2010-04-01",
    }
    if ctx["direction"] == "outbound-api":
        params["AnsweredBy"] = "human"
    return params


def _player(ctx: dict) -> Player:
    settings = services().settings
    return Player(lambda url, method, extra: twilio_request(settings, url, {**_params(ctx), **extra}, method))


def _status_url(ctx: dict) -> str:
    settings = services().settings
    if ctx.get("call_id"):
        return Urls(settings.public_base_url).call_status(ctx["call_id"])
    return settings.public_base_url + VOICE_PATH + "/status"


def _post_status(ctx: dict, status: str, **extra: str) -> None:
    twilio_request(services().settings, _status_url(ctx), {**_params(ctx, status), **extra})


def _finish(ctx: dict, lines: list[dict]) -> None:
    """The call ended: tell the service, as Twilio's final status callback does."""
    duration = str(max(1, int(time.time() - ctx["started"])))
    try:
        _post_status(ctx, "completed", CallDuration=duration)
    except ServiceError as err:
        lines.append({"kind": "error", "text": f"Statut de fin d'appel non transmis : {err}"})


def _answer(ctx: dict, screen: Screen):
    if screen.ended:
        _finish(ctx, screen.lines)
    token = _tokens().dumps({"ctx": ctx, "player": screen.state()})
    return jsonify(lines=screen.lines, prompt=screen.prompt(), ended=screen.ended, state=token)


def _failed(err: Exception, ctx: dict | None = None):
    lines = [{"kind": "error", "text": f"Appel interrompu : {err}"}]
    if ctx is not None and not isinstance(err, ServiceError):
        _finish(ctx, lines)
    return jsonify(lines=lines, prompt=None, ended=True, state="", error=str(err)), 502


@bp.post("/calls")
def call_service():
    """Call the service's number from ``from`` (a requester's phone, or any number)."""
    settings = services().settings
    caller = try_normalize(request.form.get("from", ""))
    if caller is None:
        return jsonify(error="Numéro d'appel invalide : choisissez un numéro ou tapez-en un (ex. 04 65 71 20 10)."), 422
    ctx = {
        "sid": new_sid("CA"),
        "from": caller,
        "to": settings.twilio_phone_number,
        "direction": "inbound",
        "started": time.time(),
    }
    try:
        screen = _player(ctx).start(settings.public_base_url + VOICE_PATH, _params(ctx, "ringing"))
    except (ServiceError, TwimlError) as err:
        return _failed(err)
    return _answer(ctx, screen)


@bp.post("/calls/step")
def step():
    """The person's answer to what the call waits for: keys, a "recording", a transfer's outcome, or hang up."""
    try:
        data = _tokens().loads(request.form.get("state", ""))
    except BadSignature:
        return jsonify(error="Appel inconnu ou expiré : recommencez l'appel."), 400
    ctx, state, action = data["ctx"], data["player"], request.form.get("action", "")
    player = _player(ctx)
    you = _you_said(action, request.form.get("value", ""))
    try:
        if action == "hangup":
            screen = Screen([], state["doc"], ended=True)
        elif action == "keys" and state.get("waiting", {}).get("n") == "Gather":
            screen = player.resume(state, player.gather_answer(state, request.form.get("value", "")[:40]))
        elif action == "record" and state.get("waiting", {}).get("n") == "Record":
            screen = player.resume(state, _recording(request.form.get("value", "")))
        elif action == "dial" and state.get("waiting", {}).get("n") == "Dial":
            outcome = request.form.get("value", "")
            if outcome not in ("completed", "no-answer", "busy"):
                return jsonify(error="Issue du transfert inconnue."), 422
            screen = player.resume(
                state,
                {
                    "DialCallStatus": outcome,
                    "DialCallSid": new_sid("CA"),
                    "DialCallDuration": "45" if outcome == "completed" else "0",
                },
            )
        else:
            return jsonify(error="Cette action ne correspond pas à ce que l'appel attend."), 422
    except (ServiceError, TwimlError) as err:
        return _failed(err, ctx)
    screen.lines.insert(0, {"kind": "you", "text": you})
    return _answer(ctx, screen)


def _you_said(action: str, value: str) -> str:
    """What the person did, as a line of the call's log."""
    if action == "keys":
        return f"Vous tapez {value}" if value else "Vous ne tapez rien"
    if action == "record":
        return f"Vous dites : « {value.strip()[:200]} »" if value.strip() else "Vous ne dites rien"
    if action == "dial":
        return {"completed": "La coordinatrice répond", "busy": "Occupé"}.get(value, "Personne ne répond")
    return "Vous raccrochez"


def _recording(text: str) -> dict[str, str] | None:
    """Save the typed text as the recording; None for silence (Twilio then skips the action)."""
    text = text.strip()[:4000]
    if not text:
        return None
    sid = new_sid("RE")
    url = save_recording(services().settings, sid, text)
    return {"RecordingUrl": url, "RecordingSid": sid, "RecordingDuration": str(max(1, len(text) // 12)), "Digits": "#"}


def _ringing_call(call_id: int) -> Call:
    session = db()
    call = session.get(Call, call_id)
    session.commit()  # no transaction may stay open while the service is called over HTTP (SQLite)
    if call is None or call.direction != "out" or not call.sid:
        abort(404)
    return call


def _outbound_context(settings, call: Call) -> dict:
    """What the simulated phone knows of a call the service placed to it."""
    return {
        "sid": call.sid,
        "from": settings.twilio_phone_number,
        "to": call.to_phone,
        "direction": "outbound-api",
        "call_id": call.id,
        "started": time.time(),
    }


@bp.post("/calls/<int(max=2147483647):call_id>/answer")
def answer(call_id: int):
    """Pick up a call from the service (a confirmation...): it plays the call's own TwiML."""
    settings = services().settings
    call = _ringing_call(call_id)
    ctx = _outbound_context(settings, call)
    urls = Urls(settings.public_base_url)
    try:
        _post_status(ctx, "in-progress")
        screen = _player(ctx).start(urls.call_twiml(call.id), _params(ctx))
    except (ServiceError, TwimlError) as err:
        return _failed(err, ctx)
    return _answer(ctx, screen)


@bp.post("/calls/<int(max=2147483647):call_id>/decline")
def decline(call_id: int):
    """Let it ring out: the service hears "no-answer", as from Twilio after the ringing timeout."""
    settings = services().settings
    call = _ringing_call(call_id)
    ctx = _outbound_context(settings, call)
    try:
        _post_status(ctx, "no-answer", CallDuration="0")
    except ServiceError as err:
        return jsonify(error=str(err)), 502
    return jsonify(ok=True)


@bp.get("/recordings/<name>")
def recording(name: str):
    """A simulated recording: a short tone (``<sid>``), or its typed text (``<sid>.txt``)."""
    sid, _, extension = name.partition(".")
    text = read_recording(services().settings, sid)
    if text is None:
        abort(404)
    if extension == "txt":
        return Response(text, mimetype="text/plain")
    return Response(tone_wav(), mimetype="audio/wav")
