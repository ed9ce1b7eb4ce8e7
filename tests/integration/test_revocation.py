"""Revocation (issue #14 §6): a new API token replaces the old one, ``sio requesters revoke``
ends them all at once. (Coordinators disabled: ``test_sessions.py``.)"""

from __future__ import annotations

from tests.support import scenario
from tests.support.helpers import make_requester


def _status(client, token: str) -> int:
    return client.get("/api/v1/requests/000000", headers={"Authorization": f"Bearer {token}"}).status_code


def test_revocation_a_new_token_replaces_the_old_and_revoke_ends_them(app, client, session):
    make_requester(session, name="Ehpad Les Tilleuls")
    session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["requesters", "token", "Ehpad Les Tilleuls"])
    assert first.exit_code == 0, first.output
    old = first.stdout.strip()
    assert _status(client, old) == 404  # a valid token: the request just does not exist

    second = runner.invoke(args=["requesters", "token", "Ehpad Les Tilleuls"])
    new = second.stdout.strip()
    assert "its previous token no longer works" in second.stderr
    assert _status(client, old) == 401  # replaced at once
    assert _status(client, new) == 404

    revoked = runner.invoke(args=["requesters", "revoke", "Ehpad Les Tilleuls"])
    assert revoked.exit_code == 0 and revoked.output.strip() == "1 API token of Ehpad Les Tilleuls revoked"
    assert _status(client, new) == 401
    assert scenario.post_request(client, new).status_code == 401
    again = runner.invoke(args=["requesters", "revoke", "Ehpad Les Tilleuls"])
    assert again.output.strip() == "0 API tokens of Ehpad Les Tilleuls revoked"


def test_revoke_an_unknown_requester(app):
    result = app.test_cli_runner().invoke(args=["requesters", "revoke", "Nobody"])
    assert result.exit_code == 1 and "no requester named 'Nobody'" in result.output
