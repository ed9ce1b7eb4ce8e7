"""Small helpers shared by tests: signed webhook posts, factories."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from twilio.request_validator import RequestValidator

from dispatch.effects import RunWave
from dispatch.matching import waves
from dispatch.matching.waves import run_wave
from dispatch.phones import normalize_phone
from models import CareRequest, Nurse, NurseSkill, NurseZone, Requester, RequesterPhone


def public_https(env: dict[str, str]) -> dict[str, str]:
    """``env`` made a production set-up behind https: real Twilio credentials (the simulator never
    runs on an https address). Nothing is sent: the tests using it only read pages and headers."""
    env.update(
        PUBLIC_BASE_URL="https://sio.example.org",
        TELEPHONY="twilio",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="t" * 32,
        TWILIO_PHONE_NUMBER="+33900000000",
    )
    return env


def sign(settings, path: str, data: dict) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for this form post."""
    return RequestValidator(settings.twilio_auth_token).compute_signature(settings.public_base_url + path, data)


def post_signed(client, path: str, data: dict, *, settings=None):
    """POST a form to a webhook with a valid signature."""
    settings = settings or client.application.extensions["sio"].settings
    return client.post(path, data=data, headers={"X-Twilio-Signature": sign(settings, path, data)})


def make_nurse(
    session, name: str, phone: str, zones: list[str], skills: list[str] = (), availability: str = ""
) -> Nurse:
    nurse = Nurse(name=name, phone=normalize_phone(phone).e164, availability=availability)
    nurse.zones = [NurseZone(insee=z) for z in zones]
    nurse.skills = [NurseSkill(skill=s) for s in skills]
    session.add(nurse)
    session.flush()
    return nurse


def make_request_row(session, insee: str, postcode: str, at, status: str = "open") -> CareRequest:
    """A bare request written straight to the table (no dispatch): history for the policy tests."""
    request = CareRequest(
        reference=f"9{session.query(CareRequest).count():05d}",
        channel="api",
        insee=insee,
        postcode=postcode,
        care_type="pansement",
        status=status,
        created_at=at,
    )
    session.add(request)
    session.flush()
    return request


def run_first_wave(session, settings, request: CareRequest, effects: list, now) -> list:
    """What the wave job does with the ``RunWave`` that ``create_request`` returns (it plans and
    sends the first wave), in the same session and at ``now``; the effects, the job's in place of
    the ``RunWave``."""
    done = []
    for effect in effects:
        if isinstance(effect, RunWave) and effect.request_id == request.id and effect.at is None:
            done += run_wave(session, settings, effect.request_id, effect.wave, now)
        else:
            done.append(effect)
    return done


@contextmanager
def no_planning():
    """Inside, planning a wave (``dispatch.matching.waves.plan_next_wave``, which calls every
    policy) fails the test: what a request's intake must not do (issue 17)."""

    def planned(*args, **kwargs):
        raise AssertionError("a wave was planned in the intake")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(waves, "plan_next_wave", planned)
        yield


def plan_first_wave(app, reference: str) -> None:
    """Run here, as a worker would, the wave job that taking request ``reference`` enqueued
    (``workers.jobs.run_wave(id, 0)``): it writes the first wave's offers and sends their texts
    (what it enqueues, the next wave's job, stays in the queue)."""
    from sqlalchemy import select

    from workers.jobs import run_wave as run_wave_job

    with app.extensions["sio"].sessionmaker() as session:
        request_id = session.scalar(select(CareRequest.id).where(CareRequest.reference == reference))
    run_wave_job(request_id, 0)


def make_requester(
    session, name: str = "Ehpad Les Tilleuls", kind: str = "ehpad", phones=("04 77 00 00 01",)
) -> Requester:
    requester = Requester(name=name, kind=kind, postcode="42400")
    requester.phones = [RequesterPhone(phone=normalize_phone(p).e164) for p in phones]
    session.add(requester)
    session.flush()
    return requester


def run_jobs(settings, rounds: int = 10) -> None:
    """Run every due job (and jobs those jobs enqueue) with a real RQ worker in burst mode."""
    from rq import SimpleWorker

    from workers.queue import get_queue, redis_connection

    queue = get_queue(settings)
    for _ in range(rounds):
        with signal_handlers_kept():
            SimpleWorker([queue], connection=redis_connection(settings)).work(
                burst=True, with_scheduler=True, logging_level="WARNING"
            )
        if queue.count == 0:
            return


@contextmanager
def signal_handlers_kept() -> Iterator[None]:
    """Give pytest its SIGINT and SIGTERM handlers back after an in-process RQ worker: ``work``
    installs its warm-shutdown handlers and a burst leaves them, so Ctrl-C or a CI runner's
    SIGTERM became RQ's StopRequested inside whichever test ran next, and the run went on."""
    kept = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in kept.items():
            signal.signal(number, handler)


def sms(client, sender: str, body: str, sid: str | None = None):
    """A nurse's or requester's text arriving on the single number."""
    import uuid

    return post_signed(
        client,
        "/webhooks/sms",
        {"MessageSid": sid or "SM" + uuid.uuid4().hex, "From": sender, "To": "+33900000000", "Body": body},
    )


def answer(client, sender: str, body: str, sid: str | None = None) -> str:
    """A text to the single number handled as in production (the webhook answers at once, a job
    handles it): the answer the sender gets, "" when none."""
    from sqlalchemy import func, select

    from models import Message

    services = client.application.extensions["sio"]
    with services.sessionmaker() as s:
        before = s.scalar(select(func.max(Message.id))) or 0
    response = sms(client, sender, body, sid)
    assert response.status_code == 200, response.status_code
    run_jobs(services.settings)
    with services.sessionmaker() as s:
        bodies = s.scalars(
            select(Message.body)
            .where(Message.id > before, Message.kind == "reply", Message.to_phone == sender)
            .order_by(Message.id)
        ).all()
    return "\n".join(bodies)
