"""Issue 6 benchmark (c): races. 200 requests, each answered OUI by 5 nurses at the same instant.

Five client processes, one per nurse slot, meet at a barrier before each request and post
their signed ``OUI <ref>`` together to gunicorn (4 workers) on PostgreSQL; four ``sio worker``
processes handle the texts as they come, so the five yeses of a request meet in different
workers at the same moment. Target: 0 double assignments (exactly one accepted offer, one
"accepted" event and one winner's answer per request; the four others answered "déjà pourvue").

    .venv/bin/python bench/races.py [--requests 200] [--nurses-per-request 5]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import re
import time
from collections import Counter
from urllib.parse import urlencode

from common import Stack, say
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator
from webhook import PATH, seed_offers

from models import CareRequest, Event, Message, Offer, WebhookReceipt


def nurse(slot: int, replies: list[tuple[str, str]], barrier, base_url: str, port: int, token: str, out) -> None:
    """One nurse slot: for every request, wait for the others, then say yes."""
    validator = RequestValidator(token)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    answers = []
    for r, (phone, body) in enumerate(replies):
        form = {"MessageSid": f"SM{r:016x}{slot:016x}", "From": phone, "To": "+33900000000", "Body": body}
        payload = urlencode(form)
        signature = validator.compute_signature(base_url + PATH, form)
        barrier.wait()
        conn.request(
            "POST",
            PATH,
            payload,
            {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        )
        response = conn.getresponse()
        response.read()
        answers.append((r, response.status))
    out.put(answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--nurses-per-request", type=int, default=5)
    args = parser.parse_args()
    k = args.nurses_per_request

    with Stack("races", telephony="twilio") as stack:
        seed_offers(stack, args.requests, per_request=k)
        stack.start_standin()
        stack.start_web()
        for _ in range(4):
            stack.start_worker()
        say(
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.requests} requests x {k} nurses "
            f"saying OUI at once from {k} processes; gunicorn -w 4 --threads 4, 4 sio workers, PostgreSQL"
        )
        ctx = multiprocessing.get_context("fork")
        barrier, out = ctx.Barrier(k), ctx.Queue()
        slots = []
        for slot in range(k):
            replies = [(f"+336{r * k + slot:08d}", f"OUI {200000 + r}") for r in range(args.requests)]
            slots.append(
                ctx.Process(
                    target=nurse,
                    args=(slot, replies, barrier, stack.public_base_url, stack.web_port, stack.auth_token, out),
                )
            )
        started = time.monotonic()
        for p in slots:
            p.start()
        answers = [a for _ in slots for a in out.get(timeout=600)]
        for p in slots:
            p.join()
        elapsed = time.monotonic() - started

        def unhandled() -> int:
            with stack.sessionmaker() as session:
                return session.scalar(
                    select(func.count()).select_from(WebhookReceipt).where(WebhookReceipt.handled_at.is_(None))
                )

        deadline = time.monotonic() + 300
        while unhandled() and time.monotonic() < deadline:
            time.sleep(0.2)
        handled_s = time.monotonic() - started

        with stack.sessionmaker() as session:
            told = Counter()
            for body in session.scalars(select(Message.body).where(Message.kind == "reply")):
                reference = re.search(r"demande (\d{6})", body)
                told[(reference and reference.group(1), "est pour vous" in body, "déjà pourvue" in body)] += 1
            accepted = Counter(
                r for (r,) in session.execute(select(Offer.request_id).where(Offer.status == "accepted"))
            )
            events = Counter(r for (r,) in session.execute(select(Event.request_id).where(Event.kind == "accepted")))
            statuses = Counter(s for (s,) in session.execute(select(CareRequest.status)))
            mismatched = session.scalar(
                select(func.count())
                .select_from(CareRequest)
                .join(Offer, (Offer.request_id == CareRequest.id) & (Offer.status == "accepted"))
                .where(Offer.nurse_id != CareRequest.accepted_nurse_id)
            )

    winners = Counter(ref for (ref, won, _), n in told.items() for _ in range(n) if won)
    http_codes = Counter(status for _, status in answers)
    doubles = sum(1 for n in accepted.values() if n > 1) + sum(1 for n in events.values() if n > 1) + mismatched
    say("")
    say(
        f"{len(answers)} replies posted in {elapsed:.1f} s, HTTP {dict(http_codes)}; all handled after "
        f"{handled_s:.1f} s; request statuses {dict(statuses)}"
    )
    say(
        f"requests with exactly one accepted offer: {sum(1 for n in accepted.values() if n == 1)}/{args.requests}; "
        f"with one 'accepted' event: {sum(1 for n in events.values() if n == 1)}; winners told: "
        f"{sum(1 for n in winners.values() if n == 1)}; others told 'pourvue': "
        f"{sum(n for (_, won, late), n in told.items() if late and not won)}"
    )
    met = doubles == 0 and len(accepted) == args.requests and all(n == 1 for n in winners.values())
    say(f"double assignments: {doubles} (target 0): {'MET' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
