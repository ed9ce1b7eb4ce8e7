"""Caching, logs and what the API shows (issue #14 §7, §8): pages with health data are never
cached, the production access log masks the nurse's link, a login redirect carries no search
text, and a requester reads a timeline of its own, without coordinators' notes."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from dispatch.messaging.links import details_token
from status.access_log import mask_links
from tests.integration.test_deploy import procfile_commands
from tests.support import scenario
from tests.support.browser import login, make_coordinator, post_form
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


# --- §7: no cache, no link in the logs, no search text in the login URL -------------------------


def test_pages_with_health_data_are_never_cached(client, session, settings):
    token = scenario.seed_region(session, nurses=3)
    reference = scenario.post_request(client, token).json["reference"]
    scenario.work(settings)
    nurse = scenario.offers_of(session, scenario.request_by_ref(session, reference).id)[0]
    scenario.reply(client, nurse.nurse.phone, f"OUI {reference}")
    scenario.work(settings)
    link = details_token(settings, reference, datetime.now(UTC), nurse.nurse_id)
    scenario.fresh(session)  # end the read: SQLite's writer must not wait on it
    make_coordinator(session)
    login(client)
    pages = [
        "/status",
        "/status/fragment",
        f"/status/requests/{reference}",
        "/status/nurses?q=Infirmi",
        "/status/summary",
        "/simulator",
        "/simulator/phones.json",
        f"/r/{link}",
        "/login",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response.headers.get("Cache-Control", ""), path
    api = client.get(f"/api/v1/requests/{reference}", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and api.headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/sio/sio.css").headers.get("Cache-Control", "")


def test_the_login_redirect_carries_no_search_text(client):
    response = client.get("/status/nurses?q=Vernier&etat=paused")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/status/nurses"
    assert "Vernier" not in response.headers["Location"]


def test_mask_links():
    token = "eyJyIjoiMTIzNDU2IiwibiI6MX0.aBc-_9.Zz"
    assert mask_links(f"GET /r/{token} HTTP/1.1") == "GET /r/*** HTTP/1.1"
    assert mask_links(f"GET /r/{token}/recording?x=1 HTTP/1.1") == "GET /r/***/recording?x=1 HTTP/1.1"
    assert mask_links("GET /status/requests/123456 HTTP/1.1") == "GET /status/requests/123456 HTTP/1.1"


def test_the_production_access_log_masks_the_nurses_link(tmp_path, redis_url, settings):
    """gunicorn as deploy/Procfile runs it, over real HTTP: the link is in no line of its log."""
    [web] = [words for words in procfile_commands() if words[0] == "gunicorn"]
    port = free_port()
    args = [w.replace("0.0.0.0:${PORT:-5000}", f"127.0.0.1:{port}") for w in web[1:]]
    args[args.index("-w") + 1] = "1"
    env = {
        "PATH": "/usr/bin:/bin",
        "TELEPHONY": "simulator",
        "SIO_INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'sio.db'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "access-log-test",
    }
    link = details_token(settings, "123456", datetime.now(UTC), 7)
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), *args], env=env, cwd=ROOT, stdout=log, stderr=log
        )
        try:
            deadline, answered = time.monotonic() + 30, None
            while time.monotonic() < deadline and answered is None:
                try:
                    request = urllib.request.Request(
                        f"http://127.0.0.1:{port}/r/{link}/recording", headers={"Referer": f"http://x/r/{link}"}
                    )
                    urllib.request.urlopen(request, timeout=2)  # noqa: S310 (our own server)
                except urllib.error.HTTPError as err:
                    answered = err.code
                except OSError:
                    time.sleep(0.2)
            assert answered is not None, log_path.read_text()[-2000:]
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).close()  # noqa: S310
        except urllib.error.HTTPError:
            pass
        finally:
            server.terminate()
            server.wait(15)
    logged = log_path.read_text()
    assert "/r/***/recording" in logged and "/healthz" in logged, logged[-2000:]
    assert link not in logged and link.split(".")[0] not in logged


# --- §8: the requester's own timeline --------------------------------------------------------------


def test_the_api_shows_the_requester_its_own_timeline_and_nothing_internal(client, session, settings):
    token = scenario.seed_region(session, nurses=5)
    headers = {"Authorization": f"Bearer {token}"}
    reference = scenario.post_request(client, token).json["reference"]
    scenario.work(settings)
    offers = scenario.offers_of(session, scenario.request_by_ref(session, reference).id)
    declined, accepted = offers[1].nurse, offers[0].nurse
    scenario.reply(client, declined.phone, f"NON {reference}")
    scenario.reply(client, accepted.phone, f"OUI {reference}")
    scenario.work(settings)
    scenario.fresh(session)
    make_coordinator(session)
    login(client)
    assert client.get(f"/status/requests/{reference}").status_code == 200  # audited: "viewed"
    note = "Rappelée par Martine, code porte 1234B"
    post_form(client, f"/status/requests/{reference}/called-back", {"note": note})
    scenario.reply(client, accepted.phone, f"DESISTE {reference}")
    scenario.work(settings)
    assert client.post(f"/api/v1/requests/{reference}/cancel", headers=headers).status_code == 200

    shown = client.get(f"/api/v1/requests/{reference}", headers=headers)
    timeline = shown.get_json()["timeline"]
    assert [line["kind"] for line in timeline] == [
        "received",
        "searching",
        "nurse_found",
        "called_back",
        "nurse_withdrew",
        "searching",
        "cancelled",
    ]
    assert timeline[2]["nurse"] == {"name": accepted.name, "phone": accepted.phone}
    assert all(set(line) <= {"at", "kind", "label", "nurse"} for line in timeline)
    raw = shown.get_data(as_text=True)
    for secret in (note, "1234B", "Martine Roche", "coordinatrice", "viewed", declined.name, declined.phone, "actor"):
        assert secret not in raw, secret
    page = client.get(f"/status/requests/{reference}").get_data(as_text=True)
    assert note in page and declined.name in page  # the coordinators' page keeps the whole story
