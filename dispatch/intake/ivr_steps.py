"""The phone menu's vocabulary: each step's question, and what keypad answers mean.

Pure values and functions (no database, no Flask, no twilio); the verbs are
``dispatch.telephony.voice``'s and the paths ``dispatch.telephony.urls``'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time
from typing import TypeVar

from dispatch.phones import try_normalize
from dispatch.starts import nearest_date
from dispatch.telephony import urls
from dispatch.telephony.voice import Dial, Gather, Record, Redirect, Say, Verb
from dispatch.texts import Speech
from dispatch.vocab import IVR_CARE_DIGITS

T = TypeVar("T")
# Up to 9 communes fit one keypad menu; beyond, pages of 8 with 9 for "the others".
MENU_MAX = 9
PAGE_SIZE = 8
NEXT_PAGE = "9"


@dataclass(frozen=True)
class CallInput:
    """What one voice webhook brought (the caller already E.164, None when withheld)."""

    call_sid: str
    caller: str | None = None
    digits: str | None = None
    recording_url: str | None = None
    dial_status: str | None = None


def question(
    step: str,
    *,
    communes: Sequence[str] = (),
    page: int = 0,
    callback: str | None = None,
    coordinators: tuple[str, ...] = (),
) -> list[Verb]:
    """The verbs that ask a step's question; each posts its answer to the step's own action.

    ``communes``: the names of the postcode's communes (step ``commune``); ``callback``: the
    number to read back (national form; None when the caller's number is withheld);
    ``coordinators``: the phones to ring (step ``dialed``), those on duty (step ``menu``: "0"
    is offered only when someone is).
    """
    action = urls.ivr_step(step)
    if step == "commune":
        names, more = menu_page(communes, page)
        return [Gather(action, (Speech.commune_menu(names, more),), num_digits=1)]
    if step == "details":
        # A caller with nothing to say makes no recording and Twilio goes on to the Redirect.
        return [Say(Speech.ask_details()), Record(action), Redirect(action)]
    if step == "callback":
        prompt = Speech.confirm_callback(callback) if callback else Speech.ask_callback()
        return [Gather(action, (prompt,), num_digits=10, timeout=5)]
    if step == "dialed":
        return [Say(Speech.transfer()), Dial(action, coordinators)]
    if step == "voicemail":
        return [Say(Speech.voicemail()), Record(action), Redirect(action)]
    prompt, digits = {
        "menu": (Speech.menu(bool(coordinators)), 1),
        "postcode": (Speech.ask_postcode(), 5),
        "care": (Speech.care_menu(IVR_CARE_DIGITS), 1),
        "day": (Speech.day_menu(), 1),
        "date": (Speech.ask_date(), 4),
        "time": (Speech.ask_time(), 4),
        "nurse": (Speech.ask_usual_nurse(), 10),
        "cancel": (Speech.ask_cancel_reference(), 6),
    }[step]
    return [Gather(action, (prompt,), num_digits=digits)]


def menu_page(items: Sequence[T], page: int) -> tuple[list[T], bool]:
    """The items of one keypad page (digits 1..n) and whether 9 leads to more.

    Nine or fewer: one page. More: pages of eight, 9 turning to the next one (after the
    last page, back to the first), so every menu stays short enough to remember.
    """
    if len(items) <= MENU_MAX:
        return list(items), False
    pages = (len(items) + PAGE_SIZE - 1) // PAGE_SIZE
    start = (page % pages) * PAGE_SIZE
    return list(items[start : start + PAGE_SIZE]), True


def menu_choice(digits: str, count: int) -> int | None:
    """The 0-based index chosen by a one-digit answer among ``count`` choices, else None."""
    if len(digits) == 1 and digits.isdigit() and 1 <= int(digits) <= count:
        return int(digits) - 1
    return None


def parse_date(digits: str, today: date) -> date | None:
    """``JJMM`` → the nearest such date (``dispatch.starts``: it may be past), else None."""
    if len(digits) != 4 or not digits.isdigit():
        return None
    return nearest_date(int(digits[:2]), int(digits[2:]), today)


def parse_time(digits: str) -> time | None:
    """``HHMM`` (also ``HMM``, or ``H``/``HH`` for the full hour) → a time of day, else None."""
    if not digits.isdigit() or not 1 <= len(digits) <= 4:
        return None
    hours, minutes = (int(digits), 0) if len(digits) <= 2 else (int(digits[:-2]), int(digits[-2:]))
    if hours > 23 or minutes > 59:
        return None
    return time(hours, minutes)


def parse_phone(digits: str) -> str | None:
    """Ten typed digits (``0612345678``) → E.164 through ``dispatch.phones``, else None."""
    if len(digits) != 10 or not digits.isdigit():
        return None
    return try_normalize(digits)
