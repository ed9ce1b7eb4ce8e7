"""Every command that deploy/ and the README's production section name exists and starts.

``sio <command> --help`` must exit 0 for each ``sio`` command, and each gunicorn command
must pass ``gunicorn --check-config`` (which imports the WSGI app it names).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
SIO_IMAGE = "sio-dispatch"


def procfile_commands() -> list[list[str]]:
    commands = []
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, command = line.partition(":")
            assert sep and re.fullmatch(r"[a-z_]+", name.strip()), f"Procfile line not 'name: command': {line!r}"
            commands.append(shlex.split(command))
    return commands


def compose_commands() -> list[list[str]]:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    commands = []
    for name, service in compose["services"].items():
        ours = service.get("image") == SIO_IMAGE or "build" in service
        if not ours:
            continue
        command = service.get("command")
        assert command, f"service {name} runs our image but names no command"
        commands.append(command if isinstance(command, list) else shlex.split(command))
    return commands


def dockerfile_command() -> list[str]:
    cmd = [line for line in (DEPLOY / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")]
    assert len(cmd) == 1
    return yaml.safe_load(cmd[0][4:])


def readme_production_commands() -> list[list[str]]:
    """Commands starting with ``sio`` or ``gunicorn`` in the README's production section
    (inline code spans and fenced blocks)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^(#+) [^\n]*production[^\n]*\n(.*?)(?=^\1 |\Z)", text, re.IGNORECASE | re.MULTILINE | re.DOTALL)
    assert match, "README.md has no production section"
    section = match.group(2)
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    snippets = [line for block in fenced for line in block.splitlines()]
    snippets += re.findall(
        r"(?<!`)`([^`\n]+)`(?!`)", re.sub(r"^```.*?^```", "", section, flags=re.MULTILINE | re.DOTALL)
    )
    commands = []
    for snippet in snippets:
        line = snippet.strip().removeprefix("$ ").split(" #")[0].strip()
        for part in re.split(r"\s*(?:&&|;)\s*", line):
            words = shlex.split(part) if part else []
            if words and words[0] in ("sio", "gunicorn"):
                commands.append(words)
    return commands


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        SIO_INSTANCE_PATH=str(tmp_path),
        SECRET_KEY="deploy-test",
        TELEPHONY="simulator",
        DATABASE_URL=f"sqlite:///{tmp_path}/sio.db",
        PORT="5000",
    )
    return env


def check_command(words: list[str], env: dict[str, str], cwd: Path) -> None:
    """Fail unless ``words`` names an existing sio command or a gunicorn set-up that loads."""
    program = words[0]
    if program == "sio":
        path = [w for w in words[1:] if not w.startswith("-")][:2]
        result = subprocess.run(
            [str(BIN / "sio"), *path, "--help"], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"`sio {' '.join(path)} --help` failed: {result.stderr[-500:]}"
        # a group's help lists commands; make sure the last word was a command, not an argument
        assert "Usage: sio" in result.stdout, result.stdout
        return
    if program == "gunicorn":
        args = [os.path.expandvars(w).replace("${PORT:-5000}", "5000") for w in words[1:]]
        result = subprocess.run(
            [str(BIN / "gunicorn"), "--check-config", *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"gunicorn {' '.join(args)}: {result.stderr[-800:]}"
        return
    pytest.fail(f"unexpected program {program!r} in {words}")


def test_procfile_commands_exist(tmp_path):
    commands = procfile_commands()
    assert {c[0] for c in commands} == {"sio", "gunicorn"}
    for words in commands:
        check_command(words, _env(tmp_path), ROOT)


def test_compose_commands_exist(tmp_path):
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert {"postgres", "redis", "web", "worker"} <= compose["services"].keys()
    commands = compose_commands()
    assert ["sio", "worker"] in commands
    assert any(c[0] == "gunicorn" and "-w" in c and c[c.index("-w") + 1] == "4" for c in commands)
    for words in [*commands, dockerfile_command()]:
        check_command(words, _env(tmp_path), ROOT)


def test_compose_environment_matches_settings():
    """Every variable compose sets is one the service reads (a typo would be silently ignored)."""
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    config = (ROOT / "dispatch" / "config.py").read_text()
    known_elsewhere = {"PROMETHEUS_MULTIPROC_DIR"}
    for name, service in compose["services"].items():
        if service.get("image") != SIO_IMAGE:
            continue
        for variable in service["environment"]:
            assert f'"{variable}"' in config or variable in known_elsewhere, f"{name}: {variable} is not a setting"


def test_readme_production_commands_exist(tmp_path):
    commands = readme_production_commands()
    assert commands, "the README's production section names no sio or gunicorn command"
    for words in commands:
        check_command(words, _env(tmp_path), ROOT)


def test_wsgi_app_imports(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi; print(type(wsgi.app).__name__)"],
        env=_env(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Flask"
