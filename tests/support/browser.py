"""Support for the status page, simulator and browser tests.

- ``make_coordinator`` / ``login`` / ``form_token``: a coordinator and a logged-in test client
  (every form carries a CSRF token, read from the page like a browser would).
- ``LiveServer``: the app served over real HTTP by werkzeug in a thread, with
  ``PUBLIC_BASE_URL`` set to its address, so signed webhooks and the simulator's requests
  reach it exactly as Twilio's would.
- ``WorkerProcess``: ``sio worker`` in a child process, so jobs run as in production.
- ``chromium()``: headless Debian Chromium driven by Playwright (skip without it, fail on CI).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from dispatch.app.factory import create_app
from dispatch.people.coordinators import hash_password
from dispatch.phones import normalize_phone
from dispatch.services import reset_services
from models import Coordinator
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EMAIL, PASSWORD = "martine@sio.test", "correct horse battery"
TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"|name="csrf_token" value="([^"]+)"')


def make_coordinator(
    session,
    email: str = EMAIL,
    password: str = PASSWORD,
    name: str = "Martine Roche",
    phone: str = "07 65 64 82 36",
    on_duty: bool = True,
) -> Coordinator:
    coordinator = Coordinator(
        email=email,
        name=name,
        phone=normalize_phone(phone).e164,
        password_hash=hash_password(password),
        on_duty=on_duty,
    )
    session.add(coordinator)
    session.commit()
    return coordinator


def form_token(client, path: str = "/login") -> str:
    """The CSRF token of the page at ``path`` (as a browser would find it in the form)."""
    html = client.get(path).get_data(as_text=True)
    match = TOKEN.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def login(client, email: str = EMAIL, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password, "csrf_token": form_token(client)})


def post_form(client, path: str, data: dict | None = None, *, page: str = "/status"):
    """A form post from a logged-in page, with the page's CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": form_token(client, page)})


class LiveServer:
    """The app on a free local port, served by werkzeug's threaded server in a thread."""

    def __init__(self, env: dict[str, str], monkeypatch):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "PUBLIC_BASE_URL": self.url}
        # Jobs run in this process (tests) or a worker child read the environment.
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)
        self.app = create_app(self.env)
        self.settings = self.app.extensions["sio"].settings
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        # A short poll interval makes the shutdown quick (werkzeug's default waits up to 0.5 s).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server", daemon=True
        )

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._thread.join(5)
        reset_services()


class WorkerProcess:
    """``sio worker`` (RQ worker with scheduler and sweeper) as a child process."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> WorkerProcess:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in __exit__)
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from dispatch.app.cli import main; main()", "worker"],
            env=self.env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_listening()
        return self

    def _wait_until_listening(self, timeout: float = 90.0) -> None:
        """Return once the worker listens on its queue: its start (imports, the app) takes a few
        seconds, up to tens on a loaded machine, and is not what the tests' own waits measure."""
        import redis
        from rq import Worker

        connection = redis.Redis.from_url(self.env["REDIS_URL"])
        deadline = time.monotonic() + timeout
        while not any(w.pid == self.process.pid for w in Worker.all(connection=connection)):
            if self.process.poll() is not None:
                self.__exit__()
                pytest.fail(f"sio worker exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.__exit__()
                pytest.fail(f"sio worker did not start in {timeout:.0f} s: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        connection.close()

    def __exit__(self, *_exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, every: float = 0.1, what: str = "condition"):
    """Poll until ``predicate()`` is truthy; return its value or fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def chromium_or_skip():
    """Playwright's sync API, or a skip (a failure on CI) when the browser or the library is missing."""
    reason = None
    if not os.path.exists(CHROMIUM):
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "the playwright Python package is not installed"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run on CI: {reason}")
        pytest.skip(reason)
    return sync_playwright


def fresh(session) -> None:
    """Forget what ``session`` read, so the next query sees what the app committed since."""
    session.rollback()  # ends the read snapshot (SQLite WAL, PostgreSQL repeatable reads alike)
    session.expire_all()  # and forgets loaded objects even when no transaction was open
