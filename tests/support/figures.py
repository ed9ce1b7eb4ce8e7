"""The security suite's figures (issue #14): counted while the tests run, printed at the end of
the run by ``conftest.pytest_terminal_summary`` and stated in README.md's security section."""

from __future__ import annotations

from collections import Counter

COUNTS: Counter[str] = Counter()
#: Routes that answer a stranger (no login, no token, no signature) with something else than a refusal.
OPEN_ROUTES: list[str] = []
ROUTES: list[str] = []


#: Server-side statuses that are answers, not errors: the health check's "a part is down" and the
#: simulator's "the service did not answer" (its page posts to PUBLIC_BASE_URL).
MEANT_5XX = (502, 503)


def server_error(status: int) -> bool:
    return status >= 500 and status not in MEANT_5XX


def fuzzed(status: int) -> bool:
    """One input sent by a fuzzer, and what came back; True when it was a server error."""
    COUNTS["fuzz_inputs"] += 1
    if server_error(status):
        COUNTS["fuzz_500s"] += 1
        return True
    return False


def forged(accepted: bool) -> None:
    """One forged or unsigned webhook sent, and whether the service took it."""
    COUNTS["forged_webhooks"] += 1
    if accepted:
        COUNTS["forged_webhooks_accepted"] += 1


def report() -> list[str]:
    """The lines printed at the end of the run (nothing when no security test ran)."""
    lines = []
    if COUNTS["forged_webhooks"]:
        lines.append(
            f"forged or unsigned webhooks accepted: {COUNTS['forged_webhooks_accepted']} "
            f"(of {COUNTS['forged_webhooks']} sent)"
        )
    if ROUTES:
        lines.append(f"routes reachable without login: {len(OPEN_ROUTES)} of {len(ROUTES)}: {', '.join(OPEN_ROUTES)}")
    if COUNTS["fuzz_inputs"]:
        lines.append(f"500s under the fuzzers: {COUNTS['fuzz_500s']} (of {COUNTS['fuzz_inputs']} inputs tried)")
    return lines
