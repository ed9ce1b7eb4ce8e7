"""Every event a request's timeline can hold has its French label on the coordinators' pages."""

from __future__ import annotations

import ast
from pathlib import Path

from dispatch.lifecycle import MOVES
from status.labels import EVENT

DOMAIN = Path(__file__).resolve().parents[2] / "dispatch"


def timeline_kinds() -> set[str]:
    """The kinds written by ``record(session, <a request>, "kind", ...)`` and by the lifecycle's
    moves (``transition``, ``new_round``: the move's name, or the ``event=`` given) in the domain."""
    kinds = set()
    for path in DOMAIN.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name == "record" and len(node.args) >= 3:
                request, kind = node.args[1], node.args[2]
                if not (isinstance(request, ast.Constant) and request.value is None) and isinstance(kind, ast.Constant):
                    kinds.add(kind.value)
            event = next((k.value for k in node.keywords if k.arg == "event"), None)
            move = {"transition": 2, "new_round": 3}.get(name)
            if isinstance(event, ast.Constant) and event.value:
                kinds.add(event.value)
            elif move is not None and len(node.args) > move and isinstance(node.args[move], ast.Constant):
                assert node.args[move].value in MOVES
                kinds.add(node.args[move].value)
    return kinds


def test_every_timeline_event_has_a_french_label():
    kinds = timeline_kinds()
    assert len(kinds) > 25
    assert sorted(kinds - set(EVENT)) == []
