"""``/healthz``: 200 when the database, Redis and a worker answer; 503 naming what failed."""

from __future__ import annotations

import socket

import pytest
from redis import Redis
from rq import Queue, Worker

from workers.queue import QUEUE_NAME


@pytest.fixture
def registered_worker(redis_url):
    connection = Redis.from_url(redis_url)
    worker = Worker([Queue(QUEUE_NAME, connection=connection)], connection=connection)
    worker.register_birth()
    yield worker
    worker.register_death()


def test_healthy_with_redis_and_a_worker(client, registered_worker):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "worker": "ok"}}


def test_503_when_no_worker(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json["status"] == "error"
    assert response.json["checks"]["database"] == "ok"
    assert response.json["checks"]["redis"] == "ok"
    assert response.json["checks"]["worker"].startswith("error")


def test_503_when_the_worker_died(client, registered_worker):
    assert client.get("/healthz").status_code == 200
    registered_worker.register_death()
    assert client.get("/healthz").status_code == 503


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_503_when_redis_is_down(env, registered_worker):
    from dispatch.app.factory import create_app
    from dispatch.services import reset_services

    env["REDIS_URL"] = f"redis://127.0.0.1:{closed_port()}/0"
    app = create_app(env)
    try:
        response = app.test_client().get("/healthz")
    finally:
        reset_services()

    assert response.status_code == 503
    assert response.json["checks"]["database"] == "ok"
    assert response.json["checks"]["redis"].startswith("error")
    assert response.json["checks"]["worker"] != "ok"


def test_503_when_the_database_is_down(env, registered_worker, tmp_path):
    from dispatch.app.factory import create_app
    from dispatch.services import reset_services

    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'missing-dir' / 'sio.db'}"
    app = create_app(env)
    try:
        response = app.test_client().get("/healthz")
    finally:
        reset_services()

    assert response.status_code == 503
    assert response.json["checks"]["database"].startswith("error")
    assert response.json["checks"]["redis"] == "ok"
