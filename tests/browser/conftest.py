"""The browser tests' shared fixtures: Chromium, launched once for the package, a browser per test
(the contexts a test opened, each with its own cookies, storage and cache, are closed after it),
and the demo region on a live server with a worker and a page (defined in ``test_browser``, where
they began)."""

import pytest

from tests.browser.test_browser import page, service  # noqa: F401 (fixtures)
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, chromium_or_skip


@pytest.fixture(scope="package")
def chromium():
    sync_playwright = chromium_or_skip()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def browser(chromium):
    """Chromium for one test: nothing the test opened in it outlives the test."""
    assert chromium.contexts == []
    yield chromium
    for context in chromium.contexts:
        context.close()
