"""The ``sio`` commands: imports, tokens, coordinators, demo, worker, and the ``sio run`` supervisor."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from dispatch.app import demo
from dispatch.app.runner import Child, Supervisor
from dispatch.geo import commune, distance_km
from dispatch.hours import WeeklyHours
from dispatch.people.tokens import hash_token, requester_for_token
from dispatch.phones import normalize_phone
from dispatch.vocab import CARE_TYPES
from models import ApiToken, Coordinator, Nurse, Pole, Requester, RotaShift
from tests.support.helpers import make_requester

SIO = str(Path(sys.executable).with_name("sio"))


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args, **kwargs):
        return runner.invoke(args=list(args), **kwargs)

    return invoke


def count(session, model) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return str(path)


# --- imports ----------------------------------------------------------------------------------


def test_nurses_import_good_file(cli, session, tmp_path):
    path = write(
        tmp_path,
        "nurses.csv",
        """
        name,phone,zones,skills,availability
        Sophie Martin,06 04 33 21 81,42400,perfusion,mon-fri 07:00-19:00
        Karim Mansouri,0660733754,69200 69800,,
        """,
    )
    result = cli("nurses", "import", path)

    assert result.exit_code == 0, result.output
    assert "imported 2 nurses (2 new, 0 updated)" in result.stdout
    assert count(session, Nurse) == 2

    again = cli("nurses", "import", path)
    assert again.exit_code == 0
    assert "(0 new, 2 updated)" in again.stdout
    assert count(session, Nurse) == 2


def test_nurses_import_lists_every_error_and_writes_nothing(cli, session, tmp_path):
    path = write(
        tmp_path,
        "nurses.csv",
        """
        name,phone,zones
        Good,0612345678,42400
        Bad Phone,06 12,42400
        Bad Zone,0612345677,99999
        Duplicate,+33 6 12 34 56 78,42400
        """,
    )
    result = cli("nurses", "import", path)

    assert result.exit_code == 1
    assert "3 of 4 rows invalid; nothing imported" in result.stderr
    for line in (
        "line 3: phone",
        "line 4: unknown zone '99999'",
        "line 5: phone '+33 6 12 34 56 78' is already on line 2",
    ):
        assert line in result.stderr
    assert "--skip-invalid" in result.stderr
    assert count(session, Nurse) == 0


def test_nurses_import_skip_invalid(cli, session, tmp_path):
    path = write(tmp_path, "nurses.csv", "name,phone,zones\nGood,0612345678,42400\nBad,06 12,42400\n")
    result = cli("nurses", "import", "--skip-invalid", path)

    assert result.exit_code == 1  # not every row was imported
    assert "line 3: phone" in result.stderr
    assert "imported 1 nurses (1 new, 0 updated)" in result.stdout
    assert count(session, Nurse) == 1


def test_nurses_import_file_errors(cli, session, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,phone,zones\nHélène,0612345678,42400\n".encode("latin-1"))
    missing = write(tmp_path, "missing.csv", "name,phone\nA,0612345678\n")

    for path, fragment in (
        (empty, "line 1: the file is empty"),
        (latin, "line 2: the file is not UTF-8"),
        (missing, "line 1: missing column 'zones'"),
    ):
        result = cli("nurses", "import", str(path))
        assert result.exit_code == 1
        assert fragment in result.stderr
        assert "Traceback" not in result.output
    assert cli("nurses", "import", str(tmp_path / "nope.csv")).exit_code == 2  # click: no such file
    assert count(session, Nurse) == 0


def test_requesters_import_and_token(cli, session, tmp_path):
    path = write(
        tmp_path,
        "requesters.csv",
        """
        name,kind,phones,postcode
        Ehpad Les Tilleuls,EHPAD,04 65 71 20 10,42400
        "CHU Saint-Étienne, médecine",hôpital,04 65 71 30 20;04 65 71 30 21,42270
        """,
    )
    result = cli("requesters", "import", path)
    assert result.exit_code == 0, result.output
    assert "imported 2 requesters" in result.stdout

    result = cli("requesters", "token", "CHU Saint-Étienne, médecine")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("sio_") and len(token) > 40
    assert "shown once" in result.stderr

    session.rollback()
    rows = session.scalars(select(ApiToken)).all()
    assert len(rows) == 1
    assert rows[0].token_hash == hash_token(token) != token  # only the hash is stored
    assert requester_for_token(session, token).name == "CHU Saint-Étienne, médecine"
    # A second token replaces the first (test_revocation.py has the rest).
    second = cli("requesters", "token", "CHU Saint-Étienne, médecine").stdout.strip()
    assert second != token
    assert count(session, ApiToken) == 2


def test_requesters_token_unknown_name(cli, session):
    result = cli("requesters", "token", "Nobody")
    assert result.exit_code == 1
    assert "no requester named 'Nobody'" in result.stderr
    assert count(session, ApiToken) == 0


def test_requesters_import_bad_kind(cli, session, tmp_path):
    path = write(tmp_path, "r.csv", "name,kind\nBoulangerie,boulangerie\n")
    result = cli("requesters", "import", path)
    assert result.exit_code == 1
    assert "line 2: unknown kind 'boulangerie'" in result.stderr
    assert count(session, Requester) == 0


# --- coordinators -----------------------------------------------------------------------------


def coordinator(session, email: str) -> Coordinator:
    session.rollback()
    return session.scalar(select(Coordinator).where(Coordinator.email == email))


def test_coordinators_create_with_password(cli, session):
    result = cli(
        "coordinators",
        "create",
        "Anne@Example.FR",
        "--name",
        "Anne Roche",
        "--phone",
        "06 12 34 56 78",
        "--password",
        "correct horse",
        "--on-duty",
    )

    assert result.exit_code == 0, result.output
    anne = coordinator(session, "anne@example.fr")
    assert (anne.name, anne.phone, anne.on_duty) == ("Anne Roche", "+33612345678", True)
    assert anne.password_hash.startswith("scrypt:")
    assert check_password_hash(anne.password_hash, "correct horse")
    assert "correct horse" not in anne.password_hash


def test_coordinators_create_prompts_and_upserts(cli, session):
    result = cli(
        "coordinators",
        "create",
        "anne@example.fr",
        "--name",
        "Anne",
        "--phone",
        "0612345678",
        input="first-password\nfirst-password\n",
    )
    assert result.exit_code == 0, result.output
    assert "created" in result.stdout
    assert coordinator(session, "anne@example.fr").on_duty is False

    # Update: name and phone kept, password and duty changed.
    result = cli("coordinators", "create", "anne@example.fr", "--on-duty", input="second-password\nsecond-password\n")
    assert result.exit_code == 0, result.output
    assert "updated" in result.stdout
    anne = coordinator(session, "anne@example.fr")
    assert (anne.name, anne.phone, anne.on_duty) == ("Anne", "+33612345678", True)
    assert check_password_hash(anne.password_hash, "second-password")
    assert count(session, Coordinator) == 1


def test_coordinators_create_gives_a_role(cli, session):
    """The first coordinator is an admin (someone must manage the others); then coordinator unless --role."""
    for email in ("anne@example.fr", "bea@example.fr"):
        args = ("--name", email[:4], "--phone", "0612345678", "--password", "longenough")
        assert cli("coordinators", "create", email, *args).exit_code == 0
    assert coordinator(session, "anne@example.fr").role == "admin"
    assert coordinator(session, "bea@example.fr").role == "coordinator"
    result = cli("coordinators", "create", "bea@example.fr", "--role", "admin", "--password", "longenough")
    assert result.exit_code == 0 and "admin" in result.stdout
    assert coordinator(session, "bea@example.fr").role == "admin"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["not-an-email", "--name", "A", "--phone", "0612345678", "--password", "longenough"], "not an email"),
        (["a@b.fr", "--name", "A", "--phone", "06 12", "--password", "longenough"], "--phone"),
        (["a@b.fr", "--name", "A", "--phone", "0612345678", "--password", "short"], "at least 8"),
        (["a@b.fr", "--password", "longenough"], "needs --name and --phone"),
    ],
)
def test_coordinators_create_errors(cli, session, args, fragment):
    result = cli("coordinators", "create", *args)
    assert result.exit_code == 1
    assert fragment in result.stderr
    assert count(session, Coordinator) == 0


def test_coordinators_password_confirmation_must_match(cli, session):
    result = cli(
        "coordinators",
        "create",
        "a@b.fr",
        "--name",
        "A",
        "--phone",
        "0612345678",
        input="password-one\npassword-two\npassword-one\npassword-one\n",
    )
    assert result.exit_code == 0
    assert "do not match" in result.output
    assert check_password_hash(coordinator(session, "a@b.fr").password_hash, "password-one")


# --- demo -------------------------------------------------------------------------------------


def test_demo_seeds_an_empty_database_once(cli, session):
    result = cli("demo")
    assert result.exit_code == 0, result.output
    assert "40 nurses" in result.stdout

    assert count(session, Nurse) == len(demo.NURSES) == 40
    assert count(session, Requester) == 3
    coord = coordinator(session, "demo@sio.local")
    assert coord.phone and check_password_hash(coord.password_hash, "demo")
    # The demo's first coordinator is an admin; a rota says when she is on duty (issue #16).
    assert coord.role == "admin" and not coord.on_duty and coord.pole_id is not None
    assert count(session, RotaShift) == 8 and count(session, Pole) == 1
    paused = session.scalar(select(func.count()).select_from(Nurse).where(Nurse.paused_until.is_not(None)))
    assert 1 <= paused <= 2

    again = cli("demo")
    assert again.exit_code == 0
    assert "already" in again.stdout
    assert count(session, Nurse) == 40


def test_demo_refuses_a_database_with_people(cli, session):
    make_requester(session)
    session.commit()
    result = cli("demo")
    assert "already" in result.stdout
    assert count(session, Nurse) == 0


def test_demo_refuses_real_twilio(env, session):
    from dispatch.app.factory import create_app
    from dispatch.services import reset_services

    env.update(
        TELEPHONY="twilio",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="x" * 32,
        TWILIO_PHONE_NUMBER="+33900000000",
    )
    try:
        result = create_app(env).test_cli_runner().invoke(args=["demo"])
    finally:
        reset_services()
    assert result.exit_code == 1
    assert "TELEPHONY=simulator" in result.stderr
    assert count(session, Nurse) == 0


def test_demo_data_is_believable(raw_session):
    names = {}
    for code, name in demo.COMMUNES.items():
        place = commune(raw_session, code)
        assert place is not None and place.name == name, code
        assert place.department in ("42", "69")
        names[code] = place
    assert 10 <= len(demo.COMMUNES) <= 15
    phones = set()
    for name, phone, zones, skills, availability, _paused in demo.NURSES:
        parsed = normalize_phone(phone)
        assert parsed.is_mobile and parsed.e164[:4] in ("+336", "+337"), phone
        phones.add(parsed.e164)
        assert 2 <= len(set(zones)) <= 4, name
        assert all(distance_km(names[a], names[b]) < 20 for a in zones for b in zones), name  # neighbours
        assert set(skills) <= set(CARE_TYPES)
        WeeklyHours.parse(availability)
        assert len(name.split()) >= 2
    assert len(phones) == len(demo.NURSES)
    assert sum(1 for n in demo.NURSES if "perfusion" in n[3]) >= 3
    assert sum(1 for n in demo.NURSES if "sortie" in n[3]) >= 3
    assert len({n[4] for n in demo.NURSES}) >= 4
    kinds = {r[1] for r in demo.REQUESTERS}
    assert {"ehpad", "hopital", "labo"} <= kinds
    assert all(r[2] for r in demo.REQUESTERS if r[1] == "ehpad")


def test_seed_demo_needs_the_communes(raw_session):
    from models import Commune, Postcode

    raw_session.query(Postcode).delete()
    raw_session.query(Commune).delete()
    with pytest.raises(demo.DemoError, match="db upgrade"):
        demo.seed_demo(raw_session)
    raw_session.rollback()


# --- worker -----------------------------------------------------------------------------------


def test_worker_burst_runs_due_jobs(cli, settings):
    from workers.queue import get_queue

    queue = get_queue(settings)
    queue.enqueue("builtins.len", "abc")
    assert queue.count == 1

    result = cli("worker", "--burst")

    assert result.exit_code == 0, result.output
    assert queue.count == 0


def test_worker_passes_burst_to_run_worker(cli, monkeypatch):
    import workers.worker

    calls = []
    monkeypatch.setattr(workers.worker, "run_worker", lambda settings, burst=False: calls.append((settings, burst)))
    assert cli("worker").exit_code == 0
    assert cli("worker", "--burst").exit_code == 0
    assert [b for _, b in calls] == [False, True]
    assert calls[0][0].redis_url


# --- sio run ----------------------------------------------------------------------------------

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_supervisor_stops_everything_when_a_child_dies(tmp_path):
    lines = []
    supervisor = Supervisor(
        [
            Child("worker", SLEEPER),
            Child("web server", [sys.executable, "-c", "import sys, time; time.sleep(0.3); sys.exit(3)"]),
        ],
        env=os.environ,
        cwd=tmp_path,
        echo=lines.append,
    )
    supervisor.start()
    try:
        assert supervisor.watch(poll_s=0.05) == 1
    finally:
        supervisor.stop()
    assert "the web server exited (code 3)" in lines[-1]
    assert all(c.process.poll() is not None for c in supervisor.children)


def test_supervisor_stops_children_on_sigterm(tmp_path):
    script = tmp_path / "supervise.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from pathlib import Path
            from dispatch.app.runner import Child, Supervisor
            sleeper = {SLEEPER!r}
            s = Supervisor([Child("a", sleeper), Child("b", sleeper)], env={{}}, cwd=Path("."), echo=print)
            s.install_signal_handlers()
            s.start()
            print("pids", *[c.process.pid for c in s.children], flush=True)
            code = s.watch(poll_s=0.05)
            s.stop()
            sys.exit(code)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2]
    )
    pids = [int(p) for p in proc.stdout.readline().split()[1:]]
    assert len(pids) == 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert "SIGTERM received" in proc.stdout.read()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_sio_run_end_to_end(tmp_path):
    """The real ``sio run``: embedded Redis, migrations, demo, worker, gunicorn; Ctrl-C stops all."""
    port = free_port()
    instance = tmp_path / "i"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "TWILIO", "TELEPHONY", "PUBLIC_BASE_URL"))
    }
    env.update(SIO_INSTANCE_PATH=str(instance), DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}")
    # Its own process group, so the SIGINT below reaches the whole group, as a terminal's Ctrl-C does.
    proc = subprocess.Popen(
        [SIO, "run", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, body = get(f"http://127.0.0.1:{port}/healthz")
            except OSError:
                status = None
            # Ready when the health check passes and ``sio run`` has printed its banner.
            if status == 200 and any("Ctrl-C stops it" in line for line in lines):
                break
            time.sleep(0.3)
        assert status == 200, f"healthz never 200: {status}"
        assert '"worker":"ok"' in body.replace(" ", "")
        assert (instance / "redis.sock").exists()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(10)
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert "demo data loaded: 40 nurses" in output
    assert f"http://127.0.0.1:{port}/status" in output
    assert f"http://127.0.0.1:{port}/simulator" in output
    assert "sio run: stopped" in output
    assert "Traceback" not in output
    assert "could not connect to Redis" not in output  # Redis outlived the worker
    with pytest.raises(OSError):
        get(f"http://127.0.0.1:{port}/healthz")
    # The embedded Redis is gone too.
    import redis

    with pytest.raises(redis.ConnectionError):
        redis.Redis(unix_socket_path=str(instance / "redis.sock"), socket_timeout=1).ping()
