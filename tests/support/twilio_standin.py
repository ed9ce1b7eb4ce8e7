"""A local stand-in of Twilio's REST API (Messages, Calls, Recordings), for tests and benchmarks.

The real ``twilio`` SDK talks to it through ``TWILIO_API_BASE_URL``; nothing is mocked on the
client side. It checks HTTP basic auth like Twilio, answers 201 with Twilio-shaped JSON, records
every request, and can be scripted to fail::

    with TwilioStandin() as standin:
        standin.fail_for["+33600000001"] = 21610   # that recipient has opted out
        standin.fail_next(2, status=429)           # the next two requests are rate limited
        standin.delay_s = 0.5                      # every answer comes late
        ...
        standin.messages()                         # form fields of every Messages.json POST
        standin.recordings["RE…"] = b"ID3…"        # a recording's MP3 (GET …/Recordings/RE….mp3, DELETE ….json)

As a process (benchmarks): ``python tests/support/twilio_standin.py --port 8099`` prints its URL.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "secret"
API_VERSION = "2010-04-01"

_ROUTE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/(?P<resource>Messages|Calls)\.json$")
_RECORDING = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Recordings/(?P<sid>RE[0-9a-f]{32})\.(?P<ext>mp3|json)$"
)

# Messages Twilio gives for the codes tests script most; others get a generic text.
_ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}

# Required parameters per resource: (error code when missing, any one of these form fields).
_REQUIRED = {
    "Messages": ((21604, ("To",)), (21603, ("From", "MessagingServiceSid")), (21602, ("Body", "MediaUrl"))),
    "Calls": ((21604, ("To",)), (21603, ("From",)), (21205, ("Url", "Twiml", "ApplicationSid"))),
}


@dataclass
class RecordedRequest:
    """One request as the stand-in received it, and the HTTP status it answered."""

    method: str
    path: str
    form: dict[str, list[str]]
    at: float
    status: int


def _missing_field(resource: str, fields: dict[str, str]) -> int | None:
    """The error code Twilio gives when a required parameter is missing, else None."""
    return next((code for code, names in _REQUIRED[resource] if not any(fields.get(n) for n in names)), None)


def error_body(code: int, status: int, message: str | None = None) -> dict:
    """Twilio's (legacy) JSON error shape, which the SDK turns into ``TwilioRestException``."""
    return {
        "code": code,
        "message": message or _ERROR_MESSAGES.get(code, f"Error {code}"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Server(ThreadingHTTPServer):
    # Benchmarks open many connections at once from several processes; the default backlog (5)
    # would refuse some of them before a thread picks them up.
    request_queue_size = 1024
    daemon_threads = True
    standin: TwilioStandin


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as the SDK's pooled session expects from Twilio.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK of the headers (40 ms on Linux), which no real API server makes us wait.
    disable_nagle_algorithm = True
    # Idle keep-alive connections are dropped after this, so their threads do not linger.
    timeout = 60
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self._handle("POST")

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        form = parse_qs(raw, keep_blank_values=True)
        standin = self.server.standin
        status, payload = standin._answer(method, self.path, form, self.headers.get("Authorization"))
        if standin.delay_s:
            time.sleep(standin.delay_s)
        media = isinstance(payload, bytes)
        body = payload if media else b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "audio/mpeg" if media else "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout is shorter than delay_s): that is the point.
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass  # keep test and benchmark output clean; .requests is the log


class TwilioStandin:
    """Twilio's Messages and Calls endpoints on 127.0.0.1, served from a background thread."""

    def __init__(self, account_sid=DEFAULT_ACCOUNT_SID, auth_token=DEFAULT_AUTH_TOKEN, *, host="127.0.0.1", port=0):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._lock = threading.Lock()
        #: Every request received, oldest first (guarded by a lock; use the helpers to read).
        self.requests: list[RecordedRequest] = []
        #: 'To' number → Twilio error code (answered with 400), or (code, http_status).
        self.fail_for: dict[str, int | tuple[int, int]] = {}
        #: Seconds to wait before every answer (to exercise client timeouts).
        self.delay_s: float = 0.0
        #: Recording sid → its MP3 bytes, as the account holds them.
        self.recordings: dict[str, bytes] = {}
        self._failures: deque[int] = deque()
        self._server = _Server((host, port), _Handler)
        self._server.standin = self
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def adapter(self, settings, **options):
        """The real Twilio adapter, with ``settings`` aimed at this stand-in and its credentials."""
        from dataclasses import replace

        from dispatch.telephony.twilio_adapter import TwilioTelephony

        aimed = replace(
            settings,
            telephony="twilio",
            twilio_account_sid=DEFAULT_ACCOUNT_SID,
            twilio_auth_token=DEFAULT_AUTH_TOKEN,
            twilio_api_base_url=self.base_url,
        )
        return TwilioTelephony(aimed, **options)

    @property
    def base_url(self) -> str:
        """e.g. ``http://127.0.0.1:54321``: what ``TWILIO_API_BASE_URL`` should be."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> TwilioStandin:
        """Serve from a daemon thread; returns self."""
        if self._thread is None:
            # A short poll interval makes stop() quick: tests start and stop one stand-in each.
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="twilio-standin", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> TwilioStandin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- scripting and inspection -------------------------------------------------------------

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer ``status`` to the next ``n`` requests, whatever they are (queued after earlier ones)."""
        with self._lock:
            self._failures.extend([status] * n)

    def reset(self) -> None:
        """Forget recorded requests and every scripted failure and delay."""
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self.fail_for.clear()
            self.delay_s = 0.0

    def recorded(self, resource: str | None = None) -> list[RecordedRequest]:
        """A snapshot of the recorded requests, optionally only ``"Messages"`` or ``"Calls"``."""
        with self._lock:
            items = list(self.requests)
        return [r for r in items if resource is None or r.path.endswith(f"/{resource}.json")]

    def messages(self) -> list[dict[str, list[str]]]:
        """Form fields of every request to Messages.json (failed ones included)."""
        return [r.form for r in self.recorded("Messages")]

    def calls(self) -> list[dict[str, list[str]]]:
        """Form fields of every request to Calls.json (failed ones included)."""
        return [r.form for r in self.recorded("Calls")]

    # -- the API ------------------------------------------------------------------------------

    def _answer(self, method: str, path: str, form: dict[str, list[str]], authorization: str | None):
        """Decide the answer to one request and record it. Runs in a handler thread."""
        with self._lock:
            forced = self._failures.popleft() if self._failures else None
        status, payload = self._route(method, path, form, authorization, forced)
        with self._lock:
            self.requests.append(RecordedRequest(method, path, form, time.time(), status))
        return status, payload

    def _route(self, method, path, form, authorization, forced) -> tuple[int, dict | bytes | None]:
        if forced is not None:
            # An outage or rate limit hits before Twilio even looks at the request.
            code = {429: 20429, 500: 20500, 503: 20503}.get(forced, forced)
            return forced, error_body(code, forced)
        if not self._authorized(authorization):
            return 401, error_body(20003, 401)
        recording = _RECORDING.match(path.split("?", 1)[0])
        if recording and recording["account"] == self.account_sid:
            return self._recording(method, recording["sid"], recording["ext"])
        match = _ROUTE.match(path.split("?", 1)[0])
        if method != "POST" or not match or match["account"] != self.account_sid:
            return 404, error_body(20404, 404)
        fields = {k: v[0] for k, v in form.items() if v}
        problem = _missing_field(match["resource"], fields)
        if problem:
            return 400, error_body(problem, 400)
        scripted = self.fail_for.get(fields["To"])
        if scripted is not None:
            code, status = scripted if isinstance(scripted, tuple) else (scripted, 400)
            return status, error_body(code, status)
        if match["resource"] == "Messages":
            return 201, self._message(fields)
        return 201, self._call(fields)

    def _recording(self, method: str, sid: str, ext: str) -> tuple[int, dict | bytes | None]:
        """GET ….mp3 gives the audio; DELETE ….json removes it (204), as Twilio does."""
        with self._lock:
            audio = self.recordings.get(sid)
            if audio is not None and method == "DELETE" and ext == "json":
                del self.recordings[sid]
                return 204, None
        if audio is None:
            return 404, error_body(20404, 404)
        if method == "GET" and ext == "mp3":
            return 200, audio
        return 405, error_body(20004, 405)

    def _authorized(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(f"{user}:{password}", f"{self.account_sid}:{self.auth_token}")

    def _resource(self, prefix: str, resource: str) -> tuple[str, dict]:
        """Fields every created resource has; also returns its URI without ".json"."""
        sid = prefix + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/{resource}/{sid}"
        common = {"sid": sid, "account_sid": self.account_sid, "api_version": API_VERSION, "uri": uri + ".json"}
        return uri, common | {"date_created": now, "date_updated": now, "direction": "outbound-api", "price": None}

    def _message(self, f: dict[str, str]) -> dict:
        uri, out = self._resource("SM", "Messages")
        service = f.get("MessagingServiceSid")
        return out | {
            "to": f["To"],
            "from": f.get("From"),
            "body": f.get("Body", ""),
            "messaging_service_sid": service,
            # Twilio answers "accepted" when a Messaging Service still has to pick the sender.
            "status": "accepted" if service and not f.get("From") else "queued",
            "num_segments": "1",
            "num_media": "0",
            **dict.fromkeys(("date_sent", "error_code", "error_message")),
            "subresource_uris": {"media": uri + "/Media.json", "feedback": uri + "/Feedback.json"},
        }

    def _call(self, f: dict[str, str]) -> dict:
        uri, out = self._resource("CA", "Calls")
        return out | {
            "to": f["To"],
            "to_formatted": f["To"],
            "from": f["From"],
            "from_formatted": f["From"],
            "status": "queued",
            **dict.fromkeys(("answered_by", "caller_name", "duration", "start_time", "end_time", "parent_call_sid")),
            "queue_time": "0",
            "subresource_uris": {"recordings": uri + "/Recordings.json", "events": uri + "/Events.json"},
        }


def main(argv: list[str] | None = None) -> None:
    """Serve in the foreground until interrupted (benchmarks run it as a separate process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    args = parser.parse_args(argv)
    standin = TwilioStandin(args.account_sid, args.auth_token, host=args.host, port=args.port)
    standin.delay_s = args.delay
    print(standin.base_url, flush=True)
    with contextlib.suppress(KeyboardInterrupt), standin._server:
        standin._server.serve_forever()


if __name__ == "__main__":
    main()
