"""``/metrics``: the figures follow a real dispatch, and a dead Redis does not break the scrape."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dispatch.app.factory import create_app
from dispatch.services import reset_services
from status.metrics import LATENCY_BUCKETS
from tests.support import scenario
from tests.support.redis_server import free_port

TOKEN = "metrics-test-token"


@pytest.fixture
def env(env):
    env["METRICS_TOKEN"] = TOKEN
    return env


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_follow_a_dispatch(client, session, settings):
    token = scenario.seed_region(session, nurses=5)
    before = scrape(client)
    assert before[("sio_requests", (("status", "open"),))] == 0
    assert before[("sio_redis_up", ())] == 1 and before[("sio_database_up", ())] == 1

    created = scenario.post_request(client, token)
    second = scenario.post_request(client, token)
    queued = scrape(client)
    assert queued[("sio_requests", (("status", "open"),))] == 2
    assert queued[("sio_queue_depth", ())] == 2  # one wave job per request plans and sends its first wave
    assert queued[("sio_outbox_texts", ())] == 0  # nothing planned yet
    assert queued[("sio_inbox_events", ())] == 0

    scenario.work(settings)
    request = scenario.request_by_ref(session, created.json["reference"])
    offers = scenario.offers_of(session, request.id)
    scenario.reply(client, offers[0].nurse.phone, f"OUI {request.reference}")
    scenario.reply(client, offers[1].nurse.phone, f"NON {request.reference}")
    other = scenario.request_by_ref(session, second.json["reference"])
    other_offer = scenario.offers_of(session, other.id)[0]
    text = [
        m for m in scenario.texts_to(session, other_offer.nurse.phone, kind="offer") if m.offer_id == other_offer.id
    ]
    assert scenario.status_callback(client, text[0], "undelivered", "30003").status_code == 200
    assert scrape(client)[("sio_inbox_events", ())] == 3  # two texts in, one delivery status: not handled yet
    scenario.work(settings)

    after = scrape(client)
    assert after[("sio_requests", (("status", "accepted"),))] == 1
    assert after[("sio_requests", (("status", "open"),))] == 1
    assert after[("sio_offers_sent_total", ())] == 6
    assert after[("sio_offers_failed_total", ())] == 1
    assert after[("sio_time_to_first_yes_seconds_count", ())] == 1
    assert after[("sio_time_to_first_yes_seconds_bucket", (("le", "60.0"),))] == 1
    assert after[("sio_queue_depth", ())] == 0
    assert after[("sio_queue_scheduled", ())] >= 1  # the next waves of the open request

    # The histogram lives as long as the process (other tests add to it): compare with before.
    def grew(name, labels):
        return after[(name, labels)] - before.get((name, labels), 0)

    sms = (("route", "/webhooks/sms"), ("status", "200"))
    assert grew("sio_webhook_latency_seconds_count", sms) == 2
    top = str(LATENCY_BUCKETS[-1])
    assert grew("sio_webhook_latency_seconds_bucket", (("le", top), *sms)) == 2
    status_route = (("route", "/webhooks/sms/status"), ("status", "200"))
    assert grew("sio_webhook_latency_seconds_count", status_route) == 1


def test_metrics_without_redis(env):
    env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(env)
    try:
        samples = scrape(app.test_client())
        assert samples[("sio_redis_up", ())] == 0
        assert samples[("sio_database_up", ())] == 1
        assert ("sio_queue_depth", ()) not in samples
    finally:
        reset_services()


# --- who may read them (issue #14 §9) -------------------------------------------------------------


def test_metrics_only_with_the_token_or_from_a_configured_network(env):
    app = create_app(env)
    try:
        client = app.test_client()
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics").headers["WWW-Authenticate"] == "Bearer"
        for wrong in ("Bearer nope", f"Bearer {TOKEN}x", f"bearer {TOKEN} ", f"Basic {TOKEN}", "Bearer é"):
            assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 401, wrong
        assert scrape(client)[("sio_database_up", ())] == 1
    finally:
        reset_services()
    env.pop("METRICS_TOKEN")
    for networks, address, status in (
        ("", "127.0.0.1", 403),  # neither set: nobody, not even this machine (a proxy's clients seem local)
        ("10.20.0.0/16", "10.20.3.4", 200),
        ("10.20.0.0/16", "10.21.0.1", 403),
        ("127.0.0.1, ::1", "::1", 200),
    ):
        app = create_app({**env, "METRICS_NETWORKS": networks})
        try:
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = address
            assert client.get("/metrics").status_code == status, (networks, address)
        finally:
            reset_services()
