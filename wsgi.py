"""Entry point for gunicorn (``gunicorn wsgi:app``) and ``flask --app wsgi``."""

import sys

from dispatch.config import ConfigError

try:
    from dispatch.app.factory import create_app

    app = create_app()
except ConfigError as err:  # one line, no traceback (DESIGN §10)
    print(f"sio: configuration error: {err}", file=sys.stderr)
    sys.exit(2)
