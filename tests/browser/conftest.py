"""The web console in a real browser: headless Chromium (Debian's `chromium` package) driven by
Playwright for Python, against the local stack (`local_stack`, tests/conftest.py).

Playwright's own browser download is never used: the tests launch /usr/bin/chromium (or $CHROMIUM).
Without Playwright or without Chromium every test here is skipped, saying how to get them.
Screenshots of each page go to tests/browser/artifacts/ (kept by CI as test artefacts; gitignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
HOW_TO_GET = (
    "install Chromium (Debian/Ubuntu: `sudo apt-get install -y chromium`; .ci/run does it when root) "
    "and `make venv` (requirements-dev.txt has playwright; never `playwright install`)"
)
# Nothing the console does takes this long on the local stack unless it is stuck.
WAIT_MS = 60_000


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests use the local stack as e2e tests do: marked e2e, and run last."""
    mine = [item for item in items if HERE in item.path.parents]
    for item in mine:
        item.add_marker(pytest.mark.e2e)
    chosen = set(map(id, mine))
    items[:] = [item for item in items if id(item) not in chosen] + mine


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"browser tests need Playwright for Python: {HOW_TO_GET}")
    executable = chromium_path()
    if executable is None:
        pytest.skip(f"browser tests need Chromium: {HOW_TO_GET}")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's own sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class Console:
    """A signed-in console page, with what the browser reported: console errors and CSP violations."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)
        page.set_default_timeout(WAIT_MS)

    def _console(self, message: Any) -> None:
        # A 4xx the console asked for on purpose (a refused activation) is logged by Chromium as an error
        # on the resource; those are not the console's own errors.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.problems.append(f"console error: {message.text}")

    def open(self, hash_path: str = "#/campaigns") -> None:
        self.page.goto(f"{self.base_url}/console/index.html{hash_path}")

    def sign_in(self, key: str) -> None:
        self.open()
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("heading", name="Campaigns", exact=True).wait_for()

    def go(self, hash_path: str) -> None:
        self.page.evaluate("path => { window.location.hash = path; }", hash_path)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def console(browser: Any, local_stack: Any) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    opened = Console(page, local_stack.base_url)
    try:
        yield opened
    finally:
        context.close()
    assert not opened.problems, opened.problems


@pytest.fixture
def signed_in(console: Console, local_stack: Any) -> Console:
    console.sign_in(local_stack.api_key)
    return console
