"""The project's commands of ``sio`` (DESIGN §5), registered on the app by the factory; the
console script itself is ``dispatch.app.cli``.

The commands only parse arguments and format results; the work is in
``dispatch.people.imports``, ``dispatch.app.demo``, ``dispatch.app.runner`` and ``workers.worker``.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import select

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def fail(message: str, code: int = 1) -> None:
    click.echo(f"sio: {message}", err=True)
    sys.exit(code)


def register_commands(app: Flask) -> None:
    for command in (
        db_group,
        nurses_group,
        requesters_group,
        coordinators_group,
        demo_command,
        worker_command,
        run_command,
        purge_command,
    ):
        app.cli.add_command(command)


def _services():
    from dispatch.app.context import services

    return services()


@click.group("db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Create or migrate the schema; load the communes when empty.")
@with_appcontext
def db_upgrade() -> None:
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # set up on import: noise
    from dispatch.app.migrate import upgrade

    loaded = upgrade(_services().engine)
    click.echo(f"schema up to date{f'; {loaded} communes loaded' if loaded else ''}")


# --- imports ----------------------------------------------------------------------------------


def _run_import(importer, path: str, skip_invalid: bool) -> None:
    """Run an import in one transaction, print its errors by line, exit 0 only if every row went in."""
    data = Path(path).read_bytes()
    with _services().sessionmaker() as session:
        result = importer(session, data, skip_invalid=skip_invalid)
        if result.imported:
            session.commit()
        else:
            session.rollback()
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    what = result.what
    if result.errors:
        if result.fatal:
            click.echo(f"{path}: cannot import {what}:", err=True)
        elif skip_invalid:
            bad = len(result.error_lines)
            click.echo(f"{path}: {bad} of {result.rows} rows skipped:", err=True)
        else:
            bad = len(result.error_lines)
            click.echo(f"{path}: {bad} of {result.rows} rows invalid; nothing imported:", err=True)
        for error in result.errors:
            click.echo(f"  {error}", err=True)
    if result.imported or not result.errors:
        click.echo(f"imported {result.imported} {what} ({result.created} new, {result.updated} updated)")
    if not result.ok:
        if not skip_invalid and not result.fatal:
            click.echo("fix these lines and import again, or use --skip-invalid to import the valid rows", err=True)
        sys.exit(1)


@click.group("nurses", help="Nurses.")
def nurses_group() -> None:
    pass


@nurses_group.command("import")
@click.argument("path", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows and list the others.")
@with_appcontext
def nurses_import(path: str, skip_invalid: bool) -> None:
    """Upsert nurses by phone from FILE.csv (columns name,phone,zones[,skills,availability]).

    Every row is checked first; one bad row and nothing is written, unless --skip-invalid.
    Exit code 0 only when every row was imported.
    """
    from dispatch.people.imports import import_nurses

    _run_import(import_nurses, path, skip_invalid)


@click.group("requesters", help="Requesters: hospital wards, Ehpads, labs, social workers, GPs.")
def requesters_group() -> None:
    pass


@requesters_group.command("import")
@click.argument("path", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows and list the others.")
@with_appcontext
def requesters_import(path: str, skip_invalid: bool) -> None:
    """Upsert requesters by name from FILE.csv (columns name,kind[,phones,postcode])."""
    from dispatch.people.imports import import_requesters

    _run_import(import_requesters, path, skip_invalid)


def _requester(session, name: str):
    from models import Requester

    requester = session.scalar(select(Requester).where(Requester.name == name.strip()))
    if requester is None:
        fail(f"no requester named {name!r} (see `sio requesters import`)")
    return requester


@requesters_group.command("token")
@click.argument("name")
@with_appcontext
def requesters_token(name: str) -> None:
    """Print a new API token for requester NAME; its previous tokens stop working (rotation).

    The token is shown once; only its hash is kept.
    """
    from dispatch.clock import utcnow
    from dispatch.people.tokens import replace_token

    with _services().sessionmaker.begin() as session:
        requester = _requester(session, name)
        token, revoked = replace_token(session, requester, utcnow())
    click.echo(f"API token for {requester.name} (shown once, keep it safe):", err=True)
    if revoked:
        previous = (
            "its previous token no longer works" if revoked == 1 else f"its {revoked} previous tokens no longer work"
        )
        click.echo(previous, err=True)
    click.echo(token)


@requesters_group.command("revoke")
@click.argument("name")
@with_appcontext
def requesters_revoke(name: str) -> None:
    """Revoke every API token of requester NAME at once (its integration gets 401 until a new one)."""
    from dispatch.clock import utcnow
    from dispatch.people.tokens import revoke_tokens

    with _services().sessionmaker.begin() as session:
        requester = _requester(session, name)
        revoked = revoke_tokens(session, requester, utcnow())
    click.echo(f"{revoked} API token{'s' if revoked != 1 else ''} of {requester.name} revoked")


# --- coordinators -----------------------------------------------------------------------------


@click.group("coordinators", help="Coordinators: the users of the status page.")
def coordinators_group() -> None:
    pass


@coordinators_group.command("create")
@click.argument("email")
@click.option("--name", help="Full name (required for a new coordinator).")
@click.option("--phone", help="Phone for transferred calls and alerts (required for a new coordinator).")
@click.option("--password", help="Prompted, with confirmation, when not given.")
@click.option(
    "--on-duty/--off-duty",
    default=None,
    help="On duty whatever the rota (transferred calls and alerts), or back to the rota.",
)
@click.option(
    "--role",
    type=click.Choice(["admin", "coordinator"]),
    default=None,
    help="admin also manages coordinators and API tokens; a new one is admin when no admin exists yet.",
)
@with_appcontext
def coordinators_create(
    email: str, name: str | None, phone: str | None, password: str | None, on_duty: bool | None, role: str | None
) -> None:
    """Create or update (by EMAIL) a coordinator who can log in to the status page.

    A new password ends her open sessions. A disabled coordinator stays disabled (and off duty).
    """
    from dispatch.clock import utcnow
    from dispatch.people.coordinators import MIN_PASSWORD_LENGTH, password_problem, set_password
    from dispatch.people.staff import admins_left
    from dispatch.phones import PhoneError, normalize_phone
    from models import Coordinator

    email = email.strip().lower()
    if not EMAIL.match(email):
        fail(f"{email!r} is not an email address")
    e164 = None
    if phone is not None:
        try:
            parsed = normalize_phone(phone)
        except PhoneError as err:
            fail(f"--phone {phone!r}: {err}")
        e164 = parsed.e164
        if not parsed.is_mobile:
            click.echo(f"warning: {parsed.national} is not a mobile: alerts by text will not reach it", err=True)
    if name is not None and not name.strip():
        fail("--name is empty")
    with _services().sessionmaker() as session:
        coordinator = session.scalar(select(Coordinator).where(Coordinator.email == email))
        if coordinator is None and (not name or not phone):
            fail("a new coordinator needs --name and --phone")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if password_problem(password):  # the rule is the status page's: dispatch.people.coordinators
        fail(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    with _services().sessionmaker.begin() as session:
        coordinator = session.scalar(select(Coordinator).where(Coordinator.email == email))
        created = coordinator is None
        if created:
            coordinator = Coordinator(email=email, on_duty=False)
            # The first one must be able to manage the others.
            coordinator.role = role or ("coordinator" if admins_left(session) else "admin")
            session.add(coordinator)
        elif role:
            coordinator.role = role
        if name:
            coordinator.name = " ".join(name.split())
        if e164:
            coordinator.phone = e164
        if on_duty is not None:
            coordinator.on_duty = on_duty and coordinator.disabled_at is None
            coordinator.on_duty_until = None  # standing: the rota no longer decides while on
        set_password(session, coordinator, password, utcnow())
    duty = "disabled" if coordinator.disabled_at else "on duty" if coordinator.on_duty else "on the rota"
    click.echo(
        f"coordinator {email} {'created' if created else 'updated'} ({coordinator.name}, {coordinator.role}, {duty})"
    )


def _on_coordinator(email: str, action):
    """``action(session, coordinator, now)`` in one transaction, for the coordinator EMAIL (or a
    one-line error); returns (coordinator, what the action returned)."""
    from dispatch.clock import utcnow
    from dispatch.people.coordinators import find_by_email

    with _services().sessionmaker.begin() as session:
        coordinator = find_by_email(session, email)
        if coordinator is None:
            fail(f"no coordinator with the email {email.strip()!r}")
        return coordinator, action(session, coordinator, utcnow())


def _sessions(count: int) -> str:
    return f"{count} open session{'s' if count != 1 else ''}"


@coordinators_group.command("disable")
@click.argument("email")
@with_appcontext
def coordinators_disable(email: str) -> None:
    """Disable a coordinator: no login, off duty (no calls or alerts); her sessions end at once."""
    from dispatch.people.coordinators import disable

    coordinator, ended = _on_coordinator(email, lambda s, c, now: disable(s, c, now, actor="sio coordinators disable"))
    click.echo(f"coordinator {coordinator.email} disabled; {_sessions(ended)} ended")


@coordinators_group.command("enable")
@click.argument("email")
@with_appcontext
def coordinators_enable(email: str) -> None:
    """Let a disabled coordinator log in again (off duty until she says otherwise)."""
    from dispatch.people.coordinators import enable

    coordinator, changed = _on_coordinator(email, lambda s, c, now: enable(s, c, now, actor="sio coordinators enable"))
    click.echo(f"coordinator {coordinator.email} {'enabled' if changed else 'was not disabled'}")


@coordinators_group.command("end-sessions")
@click.argument("email")
@with_appcontext
def coordinators_end_sessions(email: str) -> None:
    """End every open session of a coordinator (a lost phone, a shared computer); she logs in again."""
    from dispatch.people.coordinators import end_all_sessions

    actor = "sio coordinators end-sessions"
    coordinator, ended = _on_coordinator(email, lambda s, c, now: end_all_sessions(s, c, now, actor=actor))
    click.echo(f"{_sessions(ended)} of {coordinator.email} ended")


# --- demo, worker, run ------------------------------------------------------------------------


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Seed the demo region into an empty database (40 nurses, 3 requesters, demo@sio.local / demo)."""
    from dispatch.app.demo import DemoError, has_data, seed_demo

    svc = _services()
    with svc.sessionmaker.begin() as session:
        if has_data(session):
            click.echo("demo data not loaded: the database already has nurses, requesters or coordinators")
            return
        if svc.settings.telephony != "simulator":
            fail("the demo's phone numbers are made up: seed it with TELEPHONY=simulator only")
        try:
            summary = seed_demo(session)
        except DemoError as err:
            fail(str(err))
    click.echo(str(summary))


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the due jobs, then exit.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """An RQ worker with the scheduler and the sweeper, on the configured Redis."""
    from workers.worker import run_worker

    run_worker(_services().settings, burst=burst)


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the web server binds.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--web-workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn workers.")
@with_appcontext
def run_command(host: str, port: int, web_workers: int) -> None:
    """Web server + worker (+ the embedded Redis when REDIS_URL is unset). Ctrl-C stops all of it."""
    from dispatch.app.runner import run_service

    sys.exit(run_service(_services().settings, host=host, port=port, workers=web_workers))


@click.command("purge")
@click.option(
    "--older-than",
    "older_than",
    default="90d",
    show_default=True,
    metavar="DURATION",
    help="Purge requests closed longer ago than this (90d, 12h, 30m).",
)
@click.option("--dry-run", is_flag=True, help="Only count the requests that would be purged.")
@with_appcontext
def purge_command(older_than: str, dry_run: bool) -> None:
    """Remove notes, recordings (at Twilio too), IVR data and text bodies of old closed requests.

    Statuses, times and counts stay, for statistics.
    """
    from dataclasses import replace

    from dispatch.app.context import services
    from dispatch.clock import utcnow
    from dispatch.requests.retention import delete_recordings, parse_duration, purge, recordings_due, requests_to_purge

    try:
        delay = parse_duration(older_than)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--older-than") from None
    svc = services()
    if dry_run:
        with svc.sessionmaker() as session:
            click.echo(f"{requests_to_purge(session, delay, utcnow())} requests would be purged")
        return
    now = utcnow()
    with svc.sessionmaker() as session:
        due = recordings_due(session, delay, now)
    deleted, kept = delete_recordings(svc.telephony, due)
    with svc.sessionmaker.begin() as session:
        result = replace(purge(session, delay, now, keep=kept), recordings=deleted, kept=len(kept))
    click.echo(str(result))
    if result.kept:
        raise SystemExit(1)  # a scheduled purge must be seen to have left something
