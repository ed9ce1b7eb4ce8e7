"""The day summary: pure counts over one local day, and its server-drawn SVG plot."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.requests.summary import day_bounds, day_summary
from models import CareRequest, Event, Message
from status.plot import minutes, percent, summary_svg
from tests.support.browser import login, make_coordinator

PARIS = ZoneInfo("Europe/Paris")
DAY = date(2025, 3, 12)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS).astimezone(UTC)


def add_request(session, reference, created, status, yes_after_min=None, texts=0):
    request = CareRequest(
        reference=reference,
        channel="api",
        care_type="pansement",
        postcode="42400",
        status=status,
        created_at=created,
        updated_at=created,
    )
    session.add(request)
    session.flush()
    if yes_after_min is not None:
        session.add(Event(request_id=request.id, kind="accepted", at=created + timedelta(minutes=yes_after_min)))
        session.add(Event(request_id=request.id, kind="accepted", at=created + timedelta(minutes=yes_after_min + 60)))
    for _ in range(texts):
        session.add(
            Message(
                direction="out",
                kind="offer",
                to_phone="+33612345678",
                body="x",
                status="sent",
                request_id=request.id,
                created_at=created,
            )
        )
    session.add(
        Message(
            direction="in",
            kind="inbound",
            from_phone="+33612345678",
            body="OUI",
            status="received",
            request_id=request.id,
            created_at=created,
        )
    )  # inbound texts are not counted
    return request


@pytest.fixture
def day(raw_session):
    add_request(raw_session, "100001", at(9, 5), "confirmed", yes_after_min=4, texts=4)
    add_request(raw_session, "100002", at(9, 40), "accepted", yes_after_min=10, texts=6)
    add_request(raw_session, "100003", at(14, 0), "unfilled", texts=10)
    add_request(raw_session, "100004", at(14, 30), "cancelled", texts=2)  # cancelled before any yes
    add_request(raw_session, "100005", at(16, 0), "cancelled", yes_after_min=30, texts=3)  # filled, then cancelled
    add_request(raw_session, "100006", at(23, 30, DAY - timedelta(days=1)), "confirmed", yes_after_min=1)  # other day
    add_request(raw_session, "100007", at(0, 10, DAY + timedelta(days=1)), "open")  # next day
    raw_session.commit()
    return raw_session


def test_day_summary(day):
    s = day_summary(day, DAY, PARIS)
    assert s.requests == 5
    assert [(h.hour, h.requests, h.filled) for h in s.hours if h.requests] == [(9, 2, 2), (14, 2, 0), (16, 1, 1)]
    assert s.filled == 3 and s.cancelled_unfilled == 1 and s.unfilled == 1
    assert s.fill_rate == pytest.approx(3 / 4)
    assert s.first_yes_s == [240.0, 600.0, 1800.0]  # the first acceptance only
    assert s.median_first_yes_s == 600.0
    assert s.hours[9].median_first_yes_s == 420.0
    assert s.texts == 25 and s.texts_per_request == 5.0


def test_an_empty_day(raw_session):
    s = day_summary(raw_session, DAY, PARIS)
    assert s.requests == 0 and s.fill_rate is None and s.median_first_yes_s is None and s.texts_per_request is None
    assert len(s.hours) == 24
    ET.fromstring(summary_svg(s))  # still a well-formed plot


def test_day_bounds_follow_daylight_saving():
    start, end = day_bounds(date(2025, 3, 30), PARIS)  # clocks go forward: a 23-hour day
    assert end - start == timedelta(hours=23)


def test_svg_plot(day):
    svg = str(summary_svg(day_summary(day, DAY, PARIS)))
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    bars = root.findall(f"{ns}rect[@class='bar-open']")
    assert len(bars) == 3 + 1  # one per busy hour, and the legend's
    heights = [float(b.get("height")) for b in bars[:3]]
    assert heights[0] == heights[1] * 1 and heights[2] == pytest.approx(heights[0] / 2)
    assert len(root.findall(f"{ns}circle[@class='delay-dot']")) == 2 + 1  # hours with a yes, and the legend's
    assert "9 h : 2 demandes, 2 pourvues" in svg


def test_formatting():
    assert minutes(None) == "–" and minutes(42) == "42 s" and minutes(600) == "10 min" and minutes(7200) == "2,0 h"
    assert percent(None) == "–" and percent(0.75) == "75 %"


def test_summary_page(client, session):
    make_coordinator(session)
    login(client)
    today = client.get("/status/summary")
    assert today.status_code == 200
    html = today.get_data(as_text=True)
    assert "<svg" in html and "Bilan du" in html and "jour précédent" in html
    assert "jour suivant" not in html
    past = client.get(f"/status/summary?jour={DAY.isoformat()}").get_data(as_text=True)
    assert "Bilan du 12/03/2025" in past and "jour suivant" in past
    assert client.get("/status/summary?jour=n'importe-quoi").status_code == 200
    assert re.search(r"<strong>0</strong> demande<", html)  # French: the plural starts at 2
