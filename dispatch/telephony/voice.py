"""The verbs a call is answered with: what the phone menu (``dispatch.intake.ivr``) and the
calls to a requester (``dispatch.messaging.calls``) say, as plain values. ``webhooks.twiml``
renders them with the SDK's ``VoiceResponse``; no twilio here. Every action is a path of
``dispatch.telephony.urls``, under ``PUBLIC_BASE_URL``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dispatch.effects import Effect


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Gather:
    """Keypad input posted as ``Digits`` to ``action``; the prompts play while the caller may type."""

    action: str
    prompts: tuple[str, ...]
    num_digits: int | None = None
    finish_on_key: str = "#"
    timeout: int = 6
    # Post to the action even with nothing typed: a lone "#" (a "none" answer) and silence both
    # arrive as an empty Digits, so a missing answer is counted like a wrong one.
    action_on_empty_result: bool = True


@dataclass(frozen=True)
class Record:
    """A recording (``RecordingUrl`` posted to ``action``); "#" ends it."""

    action: str
    max_length: int = 120


@dataclass(frozen=True)
class Dial:
    """Ring every number at once; the first to answer gets the caller. ``action`` learns how it went."""

    action: str
    numbers: tuple[str, ...]
    timeout: int = 25


@dataclass(frozen=True)
class Redirect:
    action: str


@dataclass(frozen=True)
class Hangup:
    pass


Verb = Say | Gather | Record | Dial | Redirect | Hangup


@dataclass
class CallPlan:
    """What to answer the call with, and the jobs to enqueue once the transaction committed."""

    verbs: list[Verb]
    effects: list[Effect] = field(default_factory=list)
