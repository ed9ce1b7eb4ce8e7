"""Fail closed (issue #14 §1): no configuration, half a Twilio account or a public https address
never gives the simulator; the simulator signs with a token of its own instance, so the old
public constant opens nothing. The real entry points (``sio``, ``wsgi``, the Procfile's gunicorn)
stop with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from twilio.request_validator import RequestValidator

from tests.integration.test_deploy import DEPLOY, check_command, procfile_commands
from tests.support import scenario

ROOT = Path(__file__).resolve().parents[2]
SIO = str(Path(sys.executable).with_name("sio"))
OLD_CONSTANT = "simulator-auth-token"  # what main signed the simulator's webhooks with


def bare_env(tmp_path, **extra) -> dict[str, str]:
    """A fresh shell's environment: nothing of the test run's settings."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
    return {**keep, "SIO_INSTANCE_PATH": str(tmp_path / "instance"), **extra}


def test_fail_closed_a_reply_signed_with_the_old_constant_is_refused(client, session, settings):
    """The attack of the issue: sign ``OUI <ref>`` as a nurse with the public constant."""
    token = scenario.seed_region(session, nurses=3)
    reference = scenario.post_request(client, token).json["reference"]
    scenario.work(settings)
    nurse = scenario.offers_of(session, scenario.request_by_ref(session, reference).id)[0].nurse.phone
    form = {"MessageSid": "SM" + "a" * 32, "From": nurse, "To": "+33900000000", "Body": f"OUI {reference}"}
    for url in (settings.public_base_url + "/webhooks/sms", "http://127.0.0.1:5000/webhooks/sms"):
        forged = RequestValidator(OLD_CONSTANT).compute_signature(url, form)
        assert client.post("/webhooks/sms", data=form, headers={"X-Twilio-Signature": forged}).status_code == 403
    scenario.work(settings)
    assert scenario.request_by_ref(session, reference).status == "open"
    assert settings.twilio_auth_token != OLD_CONSTANT
    assert scenario.reply(client, nurse, f"OUI {reference}").status_code == 200  # the simulator's own signature


def _one_line(proc: subprocess.CompletedProcess, start: str) -> None:
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert any(line.startswith(f"sio: configuration error: {start}") for line in lines), proc.stderr


def test_fail_closed_every_entry_point_stops_without_telephony(tmp_path):
    bare = bare_env(tmp_path)
    for argv in ([SIO, "worker", "--burst"], [SIO, "db", "upgrade"], [sys.executable, "-c", "import wsgi"]):
        proc = subprocess.run(argv, env=bare, cwd=ROOT, capture_output=True, text=True, timeout=60)
        _one_line(proc, "TWILIO_ACCOUNT_SID is not set")
    half = bare_env(tmp_path, TWILIO_ACCOUNT_SID="AC" + "1" * 32)
    proc = subprocess.run([SIO, "worker", "--burst"], env=half, cwd=ROOT, capture_output=True, text=True, timeout=60)
    _one_line(proc, "TWILIO_AUTH_TOKEN is not set")
    public = bare_env(tmp_path, TELEPHONY="simulator", PUBLIC_BASE_URL="https://sio.example.org")
    proc = subprocess.run([sys.executable, "-c", "import wsgi"], env=public, cwd=ROOT, capture_output=True, text=True)
    _one_line(proc, "TELEPHONY=simulator with PUBLIC_BASE_URL='https://sio.example.org'")


def test_fail_closed_deploy_files(tmp_path):
    """The Procfile's web server refuses to start without Twilio; compose names what is missing."""
    [web] = [words for words in procfile_commands() if words[0] == "gunicorn"]
    args = [w.replace("${PORT:-5000}", "5000") for w in web[1:]]
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("gunicorn")), "--check-config", *args],
        env=bare_env(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "TWILIO_ACCOUNT_SID is not set" in proc.stderr, proc.stderr[-500:]
    check_command(web, bare_env(tmp_path, TELEPHONY="simulator", PORT="5000"), ROOT)  # it does start when set up
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    environment = compose["x-sio-env"]
    assert environment["TELEPHONY"] == "twilio"
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER", "PUBLIC_BASE_URL"):
        assert environment[name].startswith(f"${{{name}:?"), (name, environment[name])
    assert "TELEPHONY=twilio" in (DEPLOY / "env.example").read_text()
