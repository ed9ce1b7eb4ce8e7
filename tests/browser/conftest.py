"""The browser tests' shared fixtures: the demo region on a live server with a worker, Chromium,
a page (defined in ``test_browser``, where they began)."""

from tests.browser.test_browser import browser, page, service  # noqa: F401 (fixtures)
