"""A phone that plays TwiML the way Twilio does, for the simulator (no Flask, no network here).

``Player`` walks a TwiML document verb by verb: ``Say``, ``Play`` and ``Pause`` become lines
to show; ``Redirect`` fetches the next document; ``Hangup`` and ``Reject`` (or the end of the
document) end the call; ``Gather``, ``Record`` and ``Dial`` stop the walk and wait for the
person at the phone. Their answer goes where Twilio would send it (the verb's ``action``,
else the current document's URL) with the parameters Twilio would send; an empty answer
falls through to the next verb, as on a real call. Fetching is the caller's job (``fetch``),
so the same player runs against the real service or a test's fake.

The walk's position (current document URL, the waiting verb, the verbs after it) is plain
data (:meth:`Screen.state`) that the web page carries between steps.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 (parses this service's own TwiML only)
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

MAX_DOCUMENTS_PER_STEP = 20  # a Redirect loop must not hang the page
INPUT_VERBS = ("Gather", "Record", "Dial")

#: ``fetch(url, method, params)`` returns the TwiML text at ``url``; raises on failure.
Fetch = Callable[[str, str, dict[str, str]], str]


class TwimlError(ValueError):
    """The answer was not TwiML the player understands; the message is French."""


@dataclass
class Verb:
    name: str
    text: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Verb] = field(default_factory=list)

    def to_data(self) -> dict:
        return {"n": self.name, "t": self.text, "a": self.attrs, "c": [c.to_data() for c in self.children]}

    @classmethod
    def from_data(cls, data: dict) -> Verb:
        return cls(data["n"], data.get("t", ""), dict(data.get("a", {})), [cls.from_data(c) for c in data.get("c", [])])


def parse_twiml(xml: str) -> list[Verb]:
    """The verbs of a ``<Response>``, in order."""
    try:
        root = ET.fromstring(xml)  # noqa: S314 (our own service's answer, fetched by the simulator)
    except ET.ParseError as err:
        raise TwimlError(f"réponse illisible (pas du TwiML) : {err}") from None
    if root.tag != "Response":
        raise TwimlError(f"réponse inattendue : <{root.tag}> au lieu de <Response>")
    return [_verb(child) for child in root]


def _verb(element: ET.Element) -> Verb:
    return Verb(element.tag, (element.text or "").strip(), dict(element.attrib), [_verb(c) for c in element])


@dataclass
class Screen:
    """What the phone shows after a step: lines spoken, and what it waits for (or the end)."""

    lines: list[dict[str, str]]
    doc_url: str
    waiting: Verb | None = None
    rest: list[Verb] = field(default_factory=list)
    ended: bool = False

    def prompt(self) -> dict | None:
        """The input to offer: a keypad, a text box standing for a recording, or a transfer."""
        verb = self.waiting
        if verb is None:
            return None
        if verb.name == "Gather":
            return {
                "type": "gather",
                "num_digits": verb.attrs.get("numDigits", ""),
                "finish_on_key": verb.attrs.get("finishOnKey", "#"),
            }
        if verb.name == "Record":
            return {"type": "record", "max_length": verb.attrs.get("maxLength", "3600")}
        numbers = [c.text for c in verb.children if c.text] or ([verb.text] if verb.text else [])
        return {"type": "dial", "numbers": numbers}

    def state(self) -> dict:
        return {
            "doc": self.doc_url,
            "waiting": self.waiting.to_data() if self.waiting else None,
            "rest": [v.to_data() for v in self.rest],
        }


class Player:
    def __init__(self, fetch: Fetch):
        self.fetch = fetch
        self._documents = 0

    def start(self, url: str, params: dict[str, str] | None = None) -> Screen:
        """Fetch the call's first document (the number's voice URL, or an outbound call's URL)."""
        return self._follow(url, "POST", params or {}, [])

    def resume(self, state: dict, answer: dict[str, str] | None) -> Screen:
        """Continue after the waiting verb: ``answer`` is what Twilio would post to its action, or None
        when the person gave nothing (the walk then falls through to the next verb)."""
        doc = state["doc"]
        waiting = Verb.from_data(state["waiting"]) if state.get("waiting") else None
        rest = [Verb.from_data(v) for v in state.get("rest", [])]
        self._documents = 0
        if waiting is None or answer is None:
            return self._run(rest, doc, [])
        action = urljoin(doc, waiting.attrs.get("action") or doc)
        if waiting.name == "Dial" and not waiting.attrs.get("action"):
            return self._run(rest, doc, [])  # without an action, Twilio goes on with the document
        return self._follow(action, waiting.attrs.get("method", "POST"), answer, [])

    def gather_answer(self, state: dict, keys: str) -> dict[str, str] | None:
        """What a Gather posts for the keys typed (its finishOnKey removed), or None to fall through."""
        waiting = Verb.from_data(state["waiting"])
        finish = waiting.attrs.get("finishOnKey", "#")
        digits = "".join(k for k in keys if k in "0123456789*#")
        pressed_finish = bool(finish) and digits.endswith(finish)
        if pressed_finish:
            digits = digits[: -len(finish)]
        if digits:
            return {"Digits": digits, **({"FinishedOnKey": finish} if pressed_finish else {})}
        if waiting.attrs.get("actionOnEmptyResult", "false").lower() == "true":
            return {"Digits": "", **({"FinishedOnKey": finish} if pressed_finish else {})}
        return None

    def _follow(self, url: str, method: str, params: dict[str, str], lines: list[dict]) -> Screen:
        self._documents += 1
        if self._documents > MAX_DOCUMENTS_PER_STEP:
            raise TwimlError("trop de redirections à la suite : l'appel tourne en rond")
        return self._run(parse_twiml(self.fetch(url, method.upper(), params)), url, lines)

    def _run(self, verbs: list[Verb], doc: str, lines: list[dict]) -> Screen:
        for index, verb in enumerate(verbs):
            if verb.name in ("Say", "Play", "Pause"):
                lines.append(_line(verb))
            elif verb.name == "Gather":
                lines.extend(_line(child) for child in verb.children if child.name in ("Say", "Play", "Pause"))
                return Screen(lines, doc, verb, verbs[index + 1 :])
            elif verb.name in ("Record", "Dial"):
                return Screen(lines, doc, verb, verbs[index + 1 :])
            elif verb.name == "Redirect":
                return self._follow(urljoin(doc, verb.text), verb.attrs.get("method", "POST"), {}, lines)
            elif verb.name in ("Hangup", "Reject"):
                lines.append({"kind": "info", "text": "Le service raccroche."})
                return Screen(lines, doc, ended=True)
            else:
                lines.append({"kind": "info", "text": f"(<{verb.name}> n'est pas simulé)"})
        lines.append({"kind": "info", "text": "Fin des instructions : l'appel se termine."})
        return Screen(lines, doc, ended=True)


def _line(verb: Verb) -> dict[str, str]:
    if verb.name == "Say":
        return {"kind": "say", "text": verb.text}
    if verb.name == "Play":
        return {"kind": "info", "text": f"(son joué : {verb.text})" if verb.text else "(tonalités)"}
    return {"kind": "info", "text": f"(pause de {verb.attrs.get('length', '1')} s)"}
