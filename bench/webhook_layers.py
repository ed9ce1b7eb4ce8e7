"""Where a webhook's CPU goes, layer by layer, in-process (issue 6 (a)'s explanation).

Flask's test client posts signed forms to: the bare app of ``bench/bare_app.py``; then, inside the
service's own app, a route that only answers, one that also checks the signature, one that also
writes the receipt through the session as ``/webhooks/sms`` does, and the real ``/webhooks/sms``.
Prints the client's CPU time per request for each (test client included, the same for all), on
PostgreSQL and a redis-server of their own.

    .venv/bin/python bench/webhook_layers.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import os
import time

from common import Stack, say
from flask import request
from twilio.request_validator import RequestValidator

EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with Stack("layers") as stack:
        os.environ.update(stack.env())
        import bare_app

        from dispatch.app.context import db
        from dispatch.app.factory import create_app
        from dispatch.clock import utcnow
        from dispatch.intake.inbox import receive
        from webhooks.security import twilio_only
        from webhooks.twiml import twiml

        app = create_app(stack.env())

        def answer_only():
            return twiml(EMPTY)

        @twilio_only
        def signed():
            return twiml(EMPTY)

        @twilio_only
        def stored():
            session = db()
            with session.begin():
                receive(session, "sms:" + request.form["MessageSid"], dict(request.form), utcnow())
            return twiml(EMPTY)

        for name, view in (("answer", answer_only), ("signed", signed), ("stored", stored)):
            app.add_url_rule(f"/webhooks/layers/{name}", name, view, methods=["POST"])
        validator = RequestValidator(stack.auth_token)
        base = stack.public_base_url

        def cpu_ms(client, path: str, tag: str) -> float:
            for i in range(args.requests + 200):
                if i == 200:
                    started = time.process_time()
                form = {"MessageSid": f"SM{tag}{i:030x}", "From": "+33612345678", "To": "+33900000000", "Body": "NON"}
                headers = {"X-Twilio-Signature": validator.compute_signature(base + path, form)}
                assert client.post(path, data=form, headers=headers, base_url=base).status_code == 200
            return (time.process_time() - started) / args.requests * 1000

        say(f"client CPU per request, {args.requests} requests each (Flask's test client included):")
        bare = cpu_ms(bare_app.app.test_client(), "/webhooks/sms", "a")
        say(f"  {'bare Flask app':40} {bare:.3f} ms")
        client = app.test_client()
        for path, label in (
            ("/webhooks/layers/answer", "service app, answer only"),
            ("/webhooks/layers/signed", "  + signature check"),
            ("/webhooks/layers/stored", "  + receipt written (session, commit)"),
            ("/webhooks/sms", "/webhooks/sms (+ fields, job enqueued)"),
        ):
            say(f"  {label:40} {cpu_ms(client, path, path[-2:]):.3f} ms")


if __name__ == "__main__":
    main()
