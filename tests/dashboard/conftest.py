"""Fixtures for the dashboard's browser tests: a served platform and Chromium under Playwright.

Playwright comes from PyPI (the ``[dev]`` extra); its own browser download is never
used: the tests launch the system's Chromium (Debian's ``chromium`` package,
``/usr/bin/chromium``, or ``$CONSTELLATION_CHROMIUM``). Without either, the tests skip,
except under CI (``CONSTELLATION_REQUIRE_BROWSER=1``), where that is a failure.
Screenshots go to ``$CONSTELLATION_SCREENSHOTS`` when it is set (``make screenshots``
sets it to ``docs/img``), else to the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from constellation.gpu import Discovery, GpuManager, StaticBackend, load_capture
from constellation.platform import Constellation
from constellation.server import ServerThread, create_app, ensure_token

from ..serverless.conftest import HANDLERS, make_platform

__all__ = ["HANDLERS", "Dashboard"]

# Two simulated GPUs (a real nvidia-smi capture): the GPU page has something to show.
GPU_CAPTURE = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "gpu"
    / "nvidia-smi-xml"
    / "dual_a5000-v13.xml"
)


def chromium_path() -> str | None:
    wanted = os.environ.get("CONSTELLATION_CHROMIUM")
    if wanted:
        return wanted
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing(reason: str) -> None:
    if os.environ.get("CONSTELLATION_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


# Module scope, not session: while Playwright's sync API is started, its event loop counts
# as running in this thread, and any later test calling asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install -e '.[dev]'")
    executable = chromium_path()
    if executable is None:
        _missing("no Chromium found: apt-get install chromium, or set CONSTELLATION_CHROMIUM")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Dashboard:
    platform: Constellation
    url: str
    token: str
    api: httpx.Client  # the REST API with the bearer token
    page: Any  # a Playwright page, logged in
    errors: list[str] = field(default_factory=list)  # console errors and page errors
    shots: Path = Path()

    def open(self, hash_route: str, view: str) -> None:
        """Go to ``/#<hash_route>`` and wait until the view has drawn its data."""
        self.page.goto(self.url + "/#" + hash_route)
        self.page.wait_for_selector(f'body[data-rendered="{view}"]')

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"dashboard-{name}.png"), full_page=False)


def login(page: Any, url: str, token: str) -> None:
    page.goto(url + "/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_selector('body[data-rendered="overview"]')


@pytest.fixture
def dashboard(tmp_path: Path, browser: Any) -> Iterator[Dashboard]:
    shots = Path(os.environ.get("CONSTELLATION_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    with make_platform(tmp_path / "home", async_max_retries=0) as platform:
        discovery = Discovery([StaticBackend(load_capture(GPU_CAPTURE), name="simulate")])
        platform.use_gpu_manager(GpuManager(platform.store, discovery, clock=platform.clock))
        platform.start()
        token, _ = ensure_token(platform.settings.home)
        app = create_app(platform.serverless, token=token, platform=platform)
        with (
            ServerThread(app) as server,
            httpx.Client(
                base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=30.0
            ) as api,
        ):
            context = browser.new_context(viewport={"width": 1360, "height": 900})
            page = context.new_page()
            found = Dashboard(platform, server.url, token, api, page, shots=shots)
            page.on("console", lambda m: m.type == "error" and found.errors.append(m.text))
            page.on("pageerror", lambda e: found.errors.append(str(e)))
            try:
                login(page, server.url, token)
                yield found
            finally:
                context.close()
