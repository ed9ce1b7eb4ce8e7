"""Nurse replies as nurses really type them (DESIGN §6, "Nurse replies")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.messaging.grammar import KINDS, NurseCommand, parse_nurse_reply

REPLIES = [
    # her own space and registration (issue 16)
    ("PROFIL", "profile", None, None),
    ("Compte", "profile", None, None),
    ("INSCRIPTION", "register", None, None),
    # accept
    ("OUI", "accept", None, None),
    ("oui!", "accept", None, None),
    ("Oui 123456", "accept", "123456", None),
    ("OUI123456", "accept", "123456", None),
    ("o", "accept", None, None),
    ("O 123456", "accept", "123456", None),
    ("ok", "accept", None, None),
    ("OK.", "accept", None, None),
    ("1", "accept", None, None),
    ("1 123456", "accept", "123456", None),
    ("ok 123456", "accept", "123456", None),
    ("Oui, je prends 123456", "accept", "123456", None),
    ("  oui   pour   la  654321 ", "accept", "654321", None),
    ("Bonjour, oui pour 654321, je passe vers 18h", "accept", "654321", None),
    ("Je prends 222333 !", "accept", "222333", None),
    ("123456 oui", "accept", "123456", None),
    ("Oui 123456, rappelez-moi au 06 12 34 56 78", "accept", "123456", None),
    ("oui 0612345678", "accept", None, None),
    ("d'accord", "accept", None, None),
    # decline
    ("NON", "decline", None, None),
    ("n", "decline", None, None),
    ("2", "decline", None, None),
    ("non merci", "decline", None, None),
    ("Non 123456 désolée", "decline", "123456", None),
    ("NON123456", "decline", "123456", None),
    ("pas dispo", "decline", None, None),
    ("Désolée, je ne suis pas disponible pour 123456", "decline", "123456", None),
    ("Je refuse", "decline", None, None),
    # pause
    ("PAUSE", "pause", None, None),
    ("pause 3", "pause", None, 3),
    ("pause 3 jours", "pause", None, 3),
    ("Pause 10j", "pause", None, 10),
    ("pause une semaine", "pause", None, 7),
    ("pause 2 semaines", "pause", None, 14),
    ("pause 0", "pause", None, None),
    ("pause jusqu'au 30", "pause", None, None),
    ("Arrêt maladie jusqu'au 30", "pause", None, None),
    # resume
    ("DISPO", "resume", None, None),
    ("disponible", "resume", None, None),
    ("Dispo !", "resume", None, None),
    # withdraw
    ("DESISTE 123456", "withdraw", "123456", None),
    ("désiste", "withdraw", None, None),
    ("desistement", "withdraw", None, None),
    ("Je me désiste pour la 123456, urgence familiale", "withdraw", "123456", None),
    # stop / start
    ("STOP", "stop", None, None),
    ("ARRET", "stop", None, None),
    ("arrêt", "stop", None, None),
    ("ARRETE", "stop", None, None),
    ("STOPALL", "stop", None, None),
    ("UNSUBSCRIBE", "stop", None, None),
    ("Stop.", "stop", None, None),
    ("START", "start", None, None),
    ("UNSTOP", "start", None, None),
    # help
    ("AIDE", "help", None, None),
    ("aide ?", "help", None, None),
    ("HELP", "help", None, None),
    ("INFO", "help", None, None),
    ("?", "help", None, None),
    ("??", "help", None, None),
    # unknown
    ("", "unknown", None, None),
    ("   ", "unknown", None, None),
    ("👍", "unknown", None, None),
    ("x" * 2000, "unknown", None, None),
    ("\x00\x1b\x7f", "unknown", None, None),
    ("123456", "unknown", "123456", None),
    ("12345", "unknown", None, None),
    ("2 jours", "unknown", None, None),
    ("n'importe quoi", "unknown", None, None),
    ("C'est pour quel patient ?", "unknown", None, None),
    ("Rappelez-moi au 06 12 34 56 78", "unknown", None, None),
    ("Je suis en congé le 24/11/2026", "unknown", None, None),
]


@pytest.mark.parametrize("body,kind,reference,days", REPLIES)
def test_reply(body, kind, reference, days):
    assert parse_nurse_reply(body) == NurseCommand(kind, reference, days)


def test_table_is_large_and_covers_every_kind():
    assert len(REPLIES) >= 45
    assert {kind for _, kind, _, _ in REPLIES} == set(KINDS)


@given(st.text(max_size=3000))
@settings(max_examples=500)
def test_never_raises(body):
    command = parse_nurse_reply(body)
    assert command.kind in KINDS
    assert command.reference is None or (len(command.reference) == 6 and command.reference.isdigit())
    assert command.days is None or 1 <= command.days <= 365


@given(st.from_regex(r"\A(oui|non|OUI|Non|ok) ?[0-9]{6}\Z"))
def test_a_command_with_a_reference_keeps_it(body):
    assert parse_nurse_reply(body).reference == body[-6:]
