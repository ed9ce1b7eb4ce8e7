"""The application factory, error pages, and the WSGI entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from dispatch.app.factory import create_app
from dispatch.config import ConfigError
from dispatch.services import reset_services
from tests.support.helpers import public_https

PROJECT = Path(__file__).resolve().parents[2]


def test_create_app_applies_overrides(env):
    public_https(env).update(SIO_NAME="SIO Gier", DISPATCH_WAVE_SIZES="2,4")
    try:
        app = create_app(env)
        settings = app.extensions["sio"].settings
        assert isinstance(app, Flask)
        assert settings.sio_name == "SIO Gier"
        assert settings.wave_sizes == (2, 4)
        assert settings.database_url == env["DATABASE_URL"]
        assert app.config["SECRET_KEY"] == "test-secret"
        assert app.config["SESSION_COOKIE_SECURE"] is True  # https public URL
        assert "SIO_NAME" not in os.environ or os.environ["SIO_NAME"] != "SIO Gier"  # overrides stay local
    finally:
        reset_services()


def test_cookies_not_secure_on_plain_http(app):
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_create_app_raises_config_error(env):
    env["DISPATCH_WAVE_SIZES"] = "3,x"
    with pytest.raises(ConfigError, match="^DISPATCH_WAVE_SIZES"):
        create_app(env)


def test_two_apps_with_different_databases_are_independent(env, tmp_path):
    from sqlalchemy import text

    other = dict(env, DATABASE_URL=f"sqlite:///{tmp_path / 'other.db'}")
    try:
        first, second = create_app(env), create_app(other)
        assert first.extensions["sio"].engine is not second.extensions["sio"].engine
        with second.extensions["sio"].engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        reset_services()


def test_unknown_route_is_404_not_500(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype in ("application/json", "text/html")


def test_wrong_method_is_405(client):
    assert client.get("/webhooks/sms").status_code == 405


def test_commands_are_registered(app):
    names = set(app.cli.list_commands(None))
    assert {"db", "nurses", "requesters", "coordinators", "demo", "worker", "run"} <= names


def clean_env(tmp_path, **extra):
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return {**keep, "SIO_INSTANCE_PATH": str(tmp_path / "instance"), "TELEPHONY": "simulator", **extra}


def test_wsgi_module_builds_the_app(tmp_path):
    code = "import wsgi; print(type(wsgi.app).__name__, wsgi.app.extensions['sio'].settings.instance_path)"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=clean_env(tmp_path), cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["Flask", str(tmp_path / "instance")]


def test_flask_app_option_finds_wsgi(tmp_path):
    flask = str(Path(sys.executable).with_name("flask"))
    proc = subprocess.run(
        [flask, "--app", "wsgi", "routes"],
        env=clean_env(tmp_path),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "/healthz" in proc.stdout
