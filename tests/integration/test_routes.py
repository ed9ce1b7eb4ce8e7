"""The route map the domain hands out (``dispatch.telephony.urls``) and the routes the app serves
agree: every URL a text, a call, a link or the phone menu carries reaches a view."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from dispatch.intake.ivr_steps import question
from dispatch.telephony import urls
from dispatch.telephony.urls import Urls
from dispatch.telephony.voice import Dial, Gather, Record, Redirect

BASE = "http://sio.test"
STEPS = ("menu", "postcode", "commune", "care", "day", "date", "time", "nurse", "details", "callback", "cancel",
         "dialed", "voicemail")  # fmt: skip


def served(app, url: str, method: str = "POST") -> str:
    """The module of the view that serves ``url`` (the match fails when none does)."""
    endpoint, _ = app.url_map.bind("sio.test").match(urlsplit(url).path, method=method)
    return app.view_functions[endpoint].__module__


@pytest.mark.parametrize(
    "url",
    [
        Urls(BASE).sms_status(7),
        Urls(BASE).call_twiml(7),
        Urls(BASE).call_status(7),
        BASE + urls.SMS_WEBHOOK,
        BASE + urls.VOICE_WEBHOOK,
        *(BASE + urls.ivr_step(step) for step in STEPS),
    ],
)
def test_every_url_given_to_twilio_is_a_webhook(app, url):
    assert served(app, url).startswith("webhooks")


def test_the_nurse_link_and_the_simulator_recordings_are_pages(app):
    assert served(app, Urls(BASE).details("tok"), "GET") == "status.details"
    assert served(app, Urls(BASE).recording("RE" + "0" * 32) + ".txt", "GET") == "status.simulator"


def test_every_action_of_the_phone_menu_is_in_the_map(app):
    for step in STEPS:
        verbs = question(step, communes=["A", "B"], callback="04 77 00 00 01", coordinators=("+33611223344",))
        actions = [v.action for v in verbs if isinstance(v, Gather | Record | Dial | Redirect)]
        assert actions, step
        for action in actions:
            assert served(app, BASE + action).startswith("webhooks"), (step, action)
