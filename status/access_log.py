"""gunicorn's access log without the nurses' links: ``/r/<token>`` is a password for 48 hours,
``/moi/lien/<link>`` and ``/inscription/<link>`` until used.

``deploy/`` runs gunicorn with ``--logger-class status.access_log.MaskedLogger``: the request
line, path, query and referrer of every access-log line show ``/r/***`` instead of the token.
"""

from __future__ import annotations

import re

from gunicorn.glogging import Logger

# The request details link; a nurse's space and registration links (one use, 24 h: issue 16).
LINK = re.compile(r"(/r/|/moi/lien/|/inscription/)[^/?#\s\"]+")
MASKED = "***"
_FIELDS = ("r", "U", "q", "f", "{referer}i")


def mask_links(text: str | None) -> str | None:
    """``GET /r/eyJ...abc/recording`` as ``GET /r/***/recording``."""
    return LINK.sub(lambda m: m.group(1) + MASKED, text) if text else text


class MaskedLogger(Logger):
    """gunicorn's logger, with the links masked in every access-log atom that may carry one."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for field in _FIELDS:
            if isinstance(atoms.get(field), str):
                atoms[field] = mask_links(atoms[field])
        return atoms
