"""The console script ``sio``: ``flask --app wsgi`` with the project's commands (DESIGN §5)."""

from __future__ import annotations

import os
import sys

from flask.cli import FlaskGroup, routes_command, shell_command
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, ProgrammingError

from dispatch.app.commands import fail, first_line
from dispatch.config import ConfigError


def main() -> None:
    """Console script ``sio``. A bad setting prints one line and exits 2, never a traceback."""
    from redis.exceptions import RedisError

    from dispatch.app.factory import create_app
    from dispatch.config import run_defaults

    if _command_name() == "run":  # the one command that may pick the simulator by itself
        os.environ.update(run_defaults())
    try:
        app = create_app()
    except ConfigError as err:
        fail(f"configuration error: {err}", code=2)
    except (ArgumentError, NoSuchModuleError) as err:  # an unusable DATABASE_URL
        fail(f"configuration error: DATABASE_URL: {first_line(err)}", code=2)
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] in ("dispatch", "models", "webhooks", "workers", "status"):
            raise
        fail(f"configuration error: DATABASE_URL: its driver needs the module {err.name!r}, not installed", code=2)
    except OSError as err:  # the instance folder cannot be created or written
        fail(f"configuration error: SIO_INSTANCE_PATH: {err.strerror or err}: {err.filename}", code=2)
    # No default commands: Flask's own ``run`` (the development server) would hide ours.
    group = FlaskGroup(
        create_app=lambda: app, add_default_commands=False, help="SIO dispatch: service infirmier d'orientation."
    )
    group.add_command(shell_command)
    group.add_command(routes_command)
    try:
        group.main(prog_name="sio")
    except (OperationalError, ProgrammingError) as err:
        hint = " (run `sio db upgrade` first)" if "no such table" in str(err) or "does not exist" in str(err) else ""
        fail(f"database error: {first_line(err.orig or err)}{hint}")
    except RedisError as err:
        fail(f"Redis error: {first_line(err)} (check REDIS_URL; unset, `sio run` starts its own Redis)")


def _command_name() -> str | None:
    return next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
