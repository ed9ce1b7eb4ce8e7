"""Configuration (DESIGN §4): every variable's default, and one clear line for every bad value."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dispatch.config import ConfigError, load_settings, run_defaults, simulator_auth_token

SIO = str(Path(sys.executable).with_name("sio"))
PROJECT = Path(__file__).resolve().parents[2]


def settings_from(tmp_path, **env):
    """Settings from ``env`` alone; the simulator unless ``env`` names a telephony or a Twilio variable."""
    if "TELEPHONY" not in env and not any(k.startswith("TWILIO_") for k in env):
        env["TELEPHONY"] = "simulator"
    return load_settings({"SIO_INSTANCE_PATH": str(tmp_path / "instance"), **env})


def test_defaults_of_every_variable(tmp_path):
    s = settings_from(tmp_path)

    assert s.instance_path == tmp_path / "instance"
    assert s.database_url == f"sqlite:///{tmp_path / 'instance' / 'sio.db'}"
    assert s.redis_url is None
    assert s.telephony == "simulator"
    assert s.twilio_account_sid is None
    assert s.twilio_auth_token == simulator_auth_token(s.secret_key)
    assert s.twilio_phone_number == "+33900000000"
    assert s.twilio_messaging_service_sid is None
    assert s.twilio_api_base_url is None
    assert s.public_base_url == "http://127.0.0.1:5000"
    assert len(s.secret_key) >= 32
    assert s.sio_name == "SIO"
    assert s.timezone == ZoneInfo("Europe/Paris")
    assert s.service_hours.text == "mon-sat 09:00-19:30"
    assert s.service_hours.closed_on_holidays
    assert s.service_hours.contains(datetime(2026, 3, 2, 9, 0))  # a Monday
    assert not s.service_hours.contains(datetime(2026, 3, 1, 10, 0))  # a Sunday
    assert not s.service_hours.contains(datetime(2026, 7, 14, 10, 0))  # Bastille Day
    assert s.nurse_texting_hours.text == "07:30-20:30"
    assert not s.nurse_texting_hours.closed_on_holidays
    assert s.usual_nurse_wait_s == 600
    assert s.usual_nurse_wait_planned_s == 7200
    assert s.wave_sizes == (3, 5, 10)
    assert s.wave_wait_s == 600
    assert s.give_up_s == 7200
    assert s.confirm_retry_s == 300
    assert s.voice == "Polly.Lea"
    assert s.radius_km == (0, 10, 20)
    assert s.dispatch_policy == "adaptive"
    assert s.metrics_token is None and s.metrics_networks == ()


def test_every_variable_is_read(tmp_path):
    s = settings_from(
        tmp_path,
        DATABASE_URL="postgresql+psycopg://u@db/sio",
        REDIS_URL="redis://cache:6379/2",
        TWILIO_ACCOUNT_SID="AC123",
        TWILIO_AUTH_TOKEN="token",
        TWILIO_PHONE_NUMBER="04 65 71 00 00",
        TWILIO_MESSAGING_SERVICE_SID="MG123",
        TWILIO_API_BASE_URL="http://127.0.0.1:9999/",
        PUBLIC_BASE_URL="https://sio.example.org/",
        SECRET_KEY="s3cret",
        SIO_NAME="SIO Loire",
        SIO_TIMEZONE="America/Cayenne",
        SERVICE_HOURS="mon-fri 08:00-18:00",
        NURSE_TEXTING_HOURS="",
        DISPATCH_USUAL_NURSE_WAIT_S="60",
        DISPATCH_USUAL_NURSE_WAIT_PLANNED_S="120",
        DISPATCH_WAVE_SIZES="2,4",
        DISPATCH_WAVE_WAIT_S="30",
        DISPATCH_GIVE_UP_S="900",
        CONFIRM_RETRY_S="45",
        SIO_VOICE="Polly.Celine",
        DISPATCH_RADIUS_KM="0,5",
        DISPATCH_POLICY="Fixed",
        METRICS_TOKEN="m3trics",
        METRICS_NETWORKS="10.1.0.0/16, ::1",
    )
    assert s.database_url == "postgresql+psycopg://u@db/sio"
    assert s.redis_url == "redis://cache:6379/2"
    assert s.telephony == "twilio"  # credentials set, TELEPHONY unset
    assert (s.twilio_account_sid, s.twilio_auth_token) == ("AC123", "token")
    assert s.twilio_phone_number == "+33465710000"
    assert s.twilio_messaging_service_sid == "MG123"
    assert s.twilio_api_base_url == "http://127.0.0.1:9999"
    assert s.public_base_url == "https://sio.example.org"
    assert s.secret_key == "s3cret"
    assert s.sio_name == "SIO Loire"
    assert s.timezone == ZoneInfo("America/Cayenne")
    assert s.service_hours.text == "mon-fri 08:00-18:00"
    assert s.nurse_texting_hours.text == "07:30-20:30"  # empty means the default
    assert (s.usual_nurse_wait_s, s.usual_nurse_wait_planned_s) == (60, 120)
    assert (s.wave_sizes, s.wave_wait_s, s.give_up_s, s.confirm_retry_s) == ((2, 4), 30, 900, 45)
    assert s.voice == "Polly.Celine"
    assert s.radius_km == (0, 5)
    assert s.dispatch_policy == "fixed"  # not the default
    assert s.metrics_token == "m3trics"
    assert [str(n) for n in s.metrics_networks] == ["10.1.0.0/16", "::1/128"]


# --- fail closed (issue #14 §1) -------------------------------------------------------------------


def test_fail_closed_no_silent_simulator(tmp_path):
    """Nothing set, half a Twilio account, or the simulator asked for where real phones could reach
    the service: every one stops with one line naming the variable (main gave the simulator,
    signed with a public constant)."""
    cases = [
        ({}, "TWILIO_ACCOUNT_SID is not set"),
        ({"TWILIO_ACCOUNT_SID": "AC1"}, "TWILIO_AUTH_TOKEN is not set"),
        ({"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}, "TWILIO_PHONE_NUMBER is not set"),
        ({"TWILIO_AUTH_TOKEN": "t", "TWILIO_PHONE_NUMBER": "0465710000"}, "TWILIO_ACCOUNT_SID is not set"),
        ({"PUBLIC_BASE_URL": "https://sio.example.org"}, "TWILIO_ACCOUNT_SID is not set"),
        ({"TELEPHONY": "twilio", "TWILIO_ACCOUNT_SID": "AC1"}, "TWILIO_AUTH_TOKEN is not set: TELEPHONY=twilio"),
        ({"TELEPHONY": "simulator", "PUBLIC_BASE_URL": "https://sio.example.org"}, "TELEPHONY=simulator with"),
        ({"TELEPHONY": "simulator", "TWILIO_ACCOUNT_SID": "AC1"}, "TWILIO_ACCOUNT_SID is set, but TELEPHONY=simulator"),
        ({"TELEPHONY": "simulator", "TWILIO_API_BASE_URL": "http://x"}, "TWILIO_API_BASE_URL is set"),
    ]
    for env, message in cases:
        with pytest.raises(ConfigError) as err:
            load_settings({"SIO_INSTANCE_PATH": str(tmp_path / "instance"), **env})
        assert str(err.value).startswith(message), (env, str(err.value))
        assert "\n" not in str(err.value)


def test_the_simulator_signs_with_a_token_of_its_own_instance(tmp_path):
    first = settings_from(tmp_path / "a")
    second = settings_from(tmp_path / "b")
    assert first.telephony == second.telephony == "simulator"
    assert first.twilio_auth_token != second.twilio_auth_token  # random per instance (its secret key)
    assert "simulator-auth-token" not in (first.twilio_auth_token, second.twilio_auth_token)
    assert len(first.twilio_auth_token) == 64
    assert settings_from(tmp_path / "a").twilio_auth_token == first.twilio_auth_token  # shared by its processes


def test_sio_run_picks_the_simulator_only_when_nothing_says_otherwise():
    assert run_defaults({}) == {"TELEPHONY": "simulator"}
    assert run_defaults({"PUBLIC_BASE_URL": "http://127.0.0.1:8000"}) == {"TELEPHONY": "simulator"}
    assert run_defaults({"TELEPHONY": "twilio"}) == {}
    assert run_defaults({"TWILIO_ACCOUNT_SID": "AC1"}) == {}
    assert run_defaults({"PUBLIC_BASE_URL": "https://sio.example.org"}) == {}


def test_secret_key_is_generated_once_and_private(tmp_path):
    first = settings_from(tmp_path).secret_key
    key_file = tmp_path / "instance" / "secret_key"
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert settings_from(tmp_path).secret_key == first


def test_sqlite_files_and_the_instance_folder_are_private(tmp_path):
    """Issue #14 §9: the database holds health data; main created it world-readable."""
    from sqlalchemy import text

    from models import make_engine

    s = settings_from(tmp_path)
    assert stat.S_IMODE(s.instance_path.stat().st_mode) == 0o700
    engine = make_engine(s.database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT)"))
        conn.execute(text("INSERT INTO t VALUES ('Mme Vernier')"))
    database = s.instance_path / "sio.db"
    files = [database, *database.parent.glob("sio.db-*")]
    assert {p.name for p in files} >= {"sio.db", "sio.db-wal", "sio.db-shm"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    engine.dispose()
    database.chmod(0o644)  # made by an older version
    make_engine(s.database_url).dispose()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_dotenv_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("SIO_NAME=SIO Gier\nDISPATCH_WAVE_WAIT_S=42\nTELEPHONY=simulator\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIO_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("SIO_NAME", raising=False)
    monkeypatch.delenv("TELEPHONY", raising=False)
    monkeypatch.setenv("DISPATCH_WAVE_WAIT_S", "7")
    s = load_settings()
    assert s.sio_name == "SIO Gier"
    assert s.wave_wait_s == 7


BAD_VALUES = [
    ("DISPATCH_WAVE_SIZES", "3,x"),
    ("DISPATCH_WAVE_SIZES", "0,3"),
    ("DISPATCH_RADIUS_KM", "0,ten"),
    ("DISPATCH_WAVE_WAIT_S", "ten"),
    ("DISPATCH_WAVE_WAIT_S", "-1"),
    ("DISPATCH_USUAL_NURSE_WAIT_S", "1.5"),
    ("DISPATCH_USUAL_NURSE_WAIT_PLANNED_S", "2h"),
    ("DISPATCH_GIVE_UP_S", "0"),
    ("CONFIRM_RETRY_S", "abc"),
    ("TELEPHONY", "carrier-pigeon"),
    ("SERVICE_HOURS", "garbage"),
    ("SERVICE_HOURS", "mon-sat 19:30-09:00"),
    ("NURSE_TEXTING_HOURS", "07:30-25:00"),
    ("SIO_TIMEZONE", "Mars/Olympus_Mons"),
    ("TWILIO_PHONE_NUMBER", "12"),
    ("METRICS_NETWORKS", "10.0.0.0/99"),
    ("PUBLIC_BASE_URL", "sio.example.org"),
    ("REDIS_URL", "localhost:6379"),
    ("DISPATCH_POLICY", "random"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_bad_value_is_one_line_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError) as err:
        settings_from(tmp_path, **{name: value})
    message = str(err.value)
    assert message.startswith(name)
    assert "\n" not in message


def test_twilio_without_credentials(tmp_path):
    with pytest.raises(ConfigError, match="^TWILIO_AUTH_TOKEN is not set: TELEPHONY=twilio needs"):
        settings_from(tmp_path, TELEPHONY="twilio", TWILIO_ACCOUNT_SID="AC1")


def clean_env(tmp_path, **extra) -> dict[str, str]:
    """The environment of a fresh shell: no setting of the test run leaks in."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT")}
    return {**keep, "SIO_INSTANCE_PATH": str(tmp_path / "instance"), **extra}


@pytest.mark.parametrize(
    ("command", "env", "variable"),
    [
        (["db", "upgrade"], {"TELEPHONY": "simulator", "DISPATCH_WAVE_SIZES": "3,x"}, "DISPATCH_WAVE_SIZES"),
        (["worker", "--burst"], {"TELEPHONY": "twilio"}, "TWILIO_ACCOUNT_SID is not set"),
        (["worker", "--burst"], {}, "TWILIO_ACCOUNT_SID is not set"),
        (["db", "upgrade"], {"TWILIO_ACCOUNT_SID": "AC1"}, "TWILIO_AUTH_TOKEN is not set"),
        (["run"], {"TELEPHONY": "simulator", "PUBLIC_BASE_URL": "https://sio.example.org"}, "TELEPHONY=simulator"),
        (["run"], {"TWILIO_ACCOUNT_SID": "AC1"}, "TWILIO_AUTH_TOKEN is not set"),
        (["run"], {"SERVICE_HOURS": "garbage"}, "SERVICE_HOURS"),
        (["nurses", "import", "x.csv"], {"TELEPHONY": "simulator", "SIO_TIMEZONE": "Nowhere/Town"}, "SIO_TIMEZONE"),
        (["demo"], {"TELEPHONY": "simulator", "DATABASE_URL": "not a url"}, "DATABASE_URL"),
        (["demo"], {"TELEPHONY": "simulator", "DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
        (["--help"], {"TELEPHONY": "simulator", "REDIS_URL": "localhost"}, "REDIS_URL"),
    ],
)
def test_real_sio_script_prints_one_line(tmp_path, command, env, variable):
    proc = subprocess.run(
        [SIO, *command], env=clean_env(tmp_path, **env), cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"sio: configuration error: {variable}")
    assert proc.stdout == ""


def test_wsgi_with_a_bad_setting_prints_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        env=clean_env(tmp_path, TELEPHONY="simulator", DISPATCH_WAVE_SIZES="3,x"),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "sio: configuration error: DISPATCH_WAVE_SIZES='3,x': expected whole numbers separated by commas, e.g. 3,5,10"
    ]
