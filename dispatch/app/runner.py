"""``sio run``: the whole service on one machine, what ``make run`` calls (DESIGN §5).

Starts the embedded Redis when ``REDIS_URL`` is unset, migrates, seeds the demo into an
empty database, then runs ``sio worker`` and gunicorn as child processes. Ctrl-C
(SIGINT) or SIGTERM stops everything; a child that dies stops everything too, with a
message saying which one.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dispatch.config import PROJECT_ROOT, Settings

DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:5000"
Echo = Callable[[str], None]


def _echo(line: str) -> None:
    print(line, flush=True)


@dataclass
class Child:
    """A child process the supervisor starts, watches and stops."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Run child processes; stop them all when asked or when one of them ends.

    Children get their own session so a terminal's Ctrl-C reaches only this process,
    which then stops them in reverse order of start (the web server before the worker).
    """

    def __init__(
        self,
        children: list[Child],
        *,
        env: Mapping[str, str],
        cwd: Path,
        echo: Echo = _echo,
        stop_timeout: float = 15.0,
    ):
        self.children = children
        self.env = dict(env)
        self.cwd = cwd
        self.echo = echo
        self.stop_timeout = stop_timeout
        self.stop_requested: str | None = None

    def request_stop(self, signum: int, _frame=None) -> None:
        self.stop_requested = signal.Signals(signum).name

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)

    def start(self) -> None:
        for child in self.children:
            child.process = subprocess.Popen(child.argv, env=self.env, cwd=self.cwd, start_new_session=True)

    def dead_child(self) -> Child | None:
        return next((c for c in self.children if c.process is not None and c.process.poll() is not None), None)

    def watch(self, poll_s: float = 0.2) -> int:
        """Wait until a stop is requested (return 0) or a child ends (return 1)."""
        while True:
            if self.stop_requested:
                self.echo(f"sio run: {self.stop_requested} received, stopping")
                return 0
            dead = self.dead_child()
            if dead is not None:
                self.echo(
                    f"sio run: the {dead.name} exited (code {dead.process.returncode}); stopping everything. "
                    "See its messages above."
                )
                return 1
            time.sleep(poll_s)

    def stop(self) -> None:
        """SIGTERM every running child, newest first; SIGKILL whoever outlives the timeout."""
        for child in reversed(self.children):
            if child.running:
                child.process.terminate()
                try:
                    child.process.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self.echo(f"sio run: the {child.name} did not stop within {self.stop_timeout:.0f} s; killing it")
                    child.process.kill()
                    child.process.wait()


def gunicorn_argv(host: str, port: int, workers: int) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--chdir",
        str(PROJECT_ROOT),
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--bind",
        f"{host}:{port}",
        "--graceful-timeout",
        "10",
    ]
    if _gunicorn_has("control_socket_disable"):
        argv.append("--no-control-socket")  # gunicorn 24+: no socket in ~/.gunicorn shared by every instance
    return [*argv, "wsgi:app"]


def _gunicorn_has(setting: str) -> bool:
    import gunicorn.config

    return any(s.name == setting for s in gunicorn.config.KNOWN_SETTINGS)


def local_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 (display only)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def wait_for_http(url: str, supervisor: Supervisor, timeout: float = 60.0) -> bool:
    """True once ``url`` answers any HTTP status; False on timeout, a dead child or a stop request."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not supervisor.stop_requested and supervisor.dead_child() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own local URL)
                return True
        except urllib.error.HTTPError:
            return True  # 503 while the worker registers is an answer
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return False


def prepare_database(settings: Settings, echo: Echo = _echo) -> None:
    """Migrate, and seed the demo when there is no nurse yet (simulator only)."""
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # set up on import: noise
    from sqlalchemy import func, select

    from dispatch.app.demo import DemoError, seed_demo
    from dispatch.app.migrate import upgrade
    from models import Nurse, make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        loaded = upgrade(engine)
        if loaded:
            echo(f"sio run: schema created; {loaded} communes loaded")
        with make_sessionmaker(engine).begin() as session:
            if session.scalar(select(func.count()).select_from(Nurse)):
                return
            if settings.telephony != "simulator":
                echo("sio run: no nurse registered; not seeding the demo's made-up numbers with TELEPHONY=twilio")
                return
            try:
                echo(f"sio run: {seed_demo(session)}")
            except DemoError as err:
                echo(f"sio run: {err}")
    finally:
        engine.dispose()


def run_service(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 5000, workers: int = 2, echo: Echo = _echo
) -> int:
    """Run the whole service until Ctrl-C; the exit code of ``sio run``."""
    from dispatch.app.embedded_redis import EmbeddedRedis, EmbeddedRedisError

    env = dict(os.environ)
    url = local_url(host, port)
    if settings.public_base_url == DEFAULT_PUBLIC_BASE_URL and url != DEFAULT_PUBLIC_BASE_URL:
        env["PUBLIC_BASE_URL"] = url  # webhook signatures are checked against it
    public = env.get("PUBLIC_BASE_URL", settings.public_base_url).rstrip("/")
    embedded = None
    supervisor = Supervisor([], env=env, cwd=PROJECT_ROOT, echo=echo)
    supervisor.install_signal_handlers()
    try:
        if settings.redis_url is None:
            embedded = EmbeddedRedis(settings.instance_path)
            env["REDIS_URL"] = _start_shielded(embedded)
            echo(f"sio run: embedded Redis on {env['REDIS_URL']}")
        else:
            env["REDIS_URL"] = settings.redis_url
        prepare_database(settings, echo)
        if supervisor.stop_requested:
            return 0
        supervisor.env = env
        supervisor.children = [
            Child("worker", [sys.executable, "-c", "from dispatch.app.cli import main; main()", "worker"]),
            Child("web server", gunicorn_argv(host, port, workers)),
        ]
        supervisor.start()
        if wait_for_http(f"{url}/healthz", supervisor):
            _banner(echo, url, public, settings)
        elif not supervisor.stop_requested and supervisor.dead_child() is None:
            echo(f"sio run: {url} does not answer yet; still waiting (Ctrl-C stops)")
        return supervisor.watch()
    except EmbeddedRedisError as err:
        echo(f"sio run: cannot start the embedded Redis: {err}")
        return 1
    finally:
        supervisor.stop()
        if embedded is not None:
            embedded.stop()
        echo("sio run: stopped")


def _start_shielded(embedded) -> str:
    """Start the embedded Redis with SIGINT blocked, a mask its process inherits.

    A terminal's Ctrl-C goes to the whole foreground process group: without this, Redis
    would stop at once while the worker still needs it to finish its job and sign off.
    Redis is stopped last, by SIGTERM, in :func:`run_service`.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return embedded.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _banner(echo: Echo, url: str, public: str, settings: Settings) -> None:
    lines = [
        "",
        f"SIO dispatch is running ({settings.telephony}); Ctrl-C stops it.",
        f"  status page  {url}/status   (login demo@sio.local / demo)",
        f"  simulator    {url}/simulator",
        f"  health       {url}/healthz",
    ]
    if settings.telephony != "simulator":
        del lines[3]
    if public != url:
        lines.append(f"  PUBLIC_BASE_URL is {public}: Twilio must reach the service there")
    echo("\n".join(lines) + "\n")
