"""The suite touches nothing of the machine that is not its own (issue #14): no connection to a
fixed port of a developer's services, and the PostgreSQL restart only when asked for, on a
server the test starts itself where it can (tests/integration/test_faults.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests import conftest
from tests.conftest import FIXED_PORT_ATTEMPTS, FixedPortError
from tests.integration import test_faults

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("port", [5000, 8000])
def test_a_connection_to_a_fixed_port_is_blocked_and_fails_the_test(port):
    """``make run`` may be listening on 5000: nothing is sent there (main's telephony tests were)."""
    with pytest.raises(FixedPortError, match=f"127.0.0.1:{port}"):
        socket.create_connection(("127.0.0.1", port), timeout=1)
    assert [f"127.0.0.1:{port} ({conftest.FIXED_PORTS[port]})"] == FIXED_PORT_ATTEMPTS
    FIXED_PORT_ATTEMPTS.clear()  # seen: this test is the one that made it on purpose


def test_the_postgresql_restart_runs_only_when_asked_for(monkeypatch):
    monkeypatch.setattr(test_faults, "PG_RESTART", False)
    monkeypatch.setattr(test_faults, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="not asked for: set TEST_PG_RESTART=1"):
        test_faults.asked_to_restart()
    monkeypatch.setattr(test_faults, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI needs the PostgreSQL restart test to run"):
        test_faults.asked_to_restart()
    monkeypatch.setattr(test_faults, "PG_RESTART", True)
    test_faults.asked_to_restart()
    assert "export TEST_PG_RESTART=1" in (ROOT / ".ci" / "run").read_text()  # CI asks for it


def test_an_in_process_worker_leaves_ctrl_c_and_sigterm_to_pytest(settings):
    """RQ's ``work`` installs its warm-shutdown handlers and a burst leaves them behind: Ctrl-C
    and a CI runner's SIGTERM then raised RQ's StopRequested in the next test, and the run went
    on. Every in-process worker of the suite gives the handlers back."""
    import signal

    from tests.support import helpers, scenario

    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    scenario.work(settings)
    helpers.run_jobs(settings)
    assert {number: signal.getsignal(number) for number in before} == before
