"""Security headers on every response, and rate limits on login and the API (DESIGN §10).

Rate limits live in Redis (flask-limiter), so the four gunicorn workers share one count.
Redis down must not turn a request into a 500: the limiter then counts in memory (per
process) until Redis is back, and swallows any other storage error.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from dispatch.people.tokens import hash_token
from workers.queue import redis_url

LOGIN_PATH = "/login"
LOGIN_LIMIT = "10/minute"  # per client address, on POST only: guessing passwords
API_LIMIT = "120/minute"  # per API token: an establishment's integration gone wild

# The status pages serve their scripts and styles as files (no inline code), so the policy
# needs no 'unsafe-inline'. Recordings may be played from Twilio (which redirects to its storage).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' https:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HSTS = "max-age=31536000; includeSubDomains"
STATIC_PREFIX = "/static/"


def limiter_storage_uri(url: str) -> str:
    """The limits library spells a Unix socket ``redis+unix://`` where redis-py says ``unix://``."""
    return "redis+unix://" + url.removeprefix("unix://") if url.startswith("unix://") else url


def _api_token_key() -> str:
    """Count per token (hashed: tokens never reach Redis in clear); per address without one."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    return "token:" + hash_token(token) if token else "addr:" + (get_remote_address() or "-")


def _not_a_login_attempt() -> bool:
    return not (request.path == LOGIN_PATH and request.method == "POST")


def init_security(app: Flask) -> Limiter:
    """Add the headers hook and the rate limiter to ``app``; return the limiter."""
    settings = app.extensions["sio"].settings
    https = settings.public_base_url.startswith("https://")
    app.config.setdefault("RATELIMIT_LOGIN", LOGIN_LIMIT)
    app.config.setdefault("RATELIMIT_API", API_LIMIT)
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        # The default limit is the login limit: every other route is exempt from it.
        default_limits=[lambda: app.config["RATELIMIT_LOGIN"]],
        default_limits_exempt_when=_not_a_login_attempt,
        storage_uri=limiter_storage_uri(redis_url(settings)),
        # Short timeouts: a limiter waiting on a dead Redis would stall every request.
        storage_options={"socket_timeout": 1, "socket_connect_timeout": 1},
        strategy="fixed-window",
        key_prefix="sio-limits",
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        headers_enabled=True,
    )
    if "api" in app.blueprints:
        limiter.limit(lambda: app.config["RATELIMIT_API"], key_func=_api_token_key)(app.blueprints["api"])

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        # Pages, API answers and recordings carry health data: no copy in any cache (a shared
        # computer's browser, a proxy). Only the pages' scripts and styles may be kept.
        if not request.path.startswith(STATIC_PREFIX):
            response.headers.setdefault("Cache-Control", "no-store")
        if https or request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    app.extensions["sio_limiter"] = limiter
    return limiter
