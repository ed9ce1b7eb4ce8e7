"""``/healthz``: database, Redis and worker checks as JSON; 503 when one fails."""

from __future__ import annotations

from flask import Blueprint, jsonify
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from dispatch.app.context import services
from workers.queue import redis_connection

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    svc = services()
    checks: dict[str, object] = {}
    try:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as err:
        checks["database"] = f"error: {type(err).__name__}"
    try:
        redis = redis_connection(svc.settings)
        redis.ping()
        checks["redis"] = "ok"
        workers = Worker.count(connection=redis)
        checks["worker"] = "ok" if workers else "error: no worker running"
    except (RedisError, OSError) as err:
        checks["redis"] = f"error: {type(err).__name__}"
        checks["worker"] = "unknown"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if healthy else "error", checks=checks), 200 if healthy else 503
