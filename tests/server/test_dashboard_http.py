"""The dashboard over HTTP (no browser): sessions, what each view reads, the shared live
feed, and which paths are the dashboard's, the API's or the triggers'."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from constellation.server import ServerThread, create_app, ensure_token
from constellation.server._dashboard import DASHBOARD_PATHS, _LiveCache
from constellation.server._session import COOKIE, Sessions, cookie_value

from .._support import FakeClock, wait_until
from ..serverless.conftest import HANDLERS, make_platform
from .conftest import Served


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[tuple[Served, httpx.Client]]:
    """A served platform (with the dashboard's platform views) and a logged-in client."""
    with make_platform(tmp_path / "home") as platform:
        token, _ = ensure_token(platform.settings.home)
        app = create_app(platform.serverless, token=token, platform=platform)
        with (
            ServerThread(app) as server,
            httpx.Client(
                base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=30
            ) as api,
            httpx.Client(base_url=server.url, timeout=30) as browser,
        ):
            r = browser.post("/login", data={"token": token})
            assert r.status_code == 303 and r.headers["location"] == "/"
            yield Served(platform, server, token, api), browser


def test_sessions_need_the_token_and_expire() -> None:
    clock = FakeClock()
    sessions = Sessions("cst_secret", ttl_s=60, clock=clock)
    assert sessions.login("wrong") is None
    sid = sessions.login(" cst_secret ")
    assert sid is not None and "cst_secret" not in sid
    assert sessions.valid(sid) and not sessions.valid("made-up") and not sessions.valid(None)
    cookie = sessions.set_cookie(sid, secure=False)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert "Secure" in sessions.set_cookie(sid, secure=True)
    assert cookie_value(f"a=1; {COOKIE}={sid}; b=2".encode()) == sid
    clock.advance(61)
    assert not sessions.valid(sid)
    other = sessions.login("cst_secret")
    sessions.logout(other)
    assert not sessions.valid(other)
    assert Sessions(None).valid(None)  # authentication off: every browser is in


def test_pages_redirect_to_the_login_and_data_needs_a_session(served: Served) -> None:
    with httpx.Client(base_url=served.url) as anonymous:
        r = anonymous.get("/")
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert anonymous.get("/ui/data/overview").status_code == 401
        assert anonymous.get("/ui/events").status_code == 401
        r = anonymous.post("/login", data={"token": "nope"})
        assert r.status_code == 401 and "set-cookie" not in r.headers
        page = anonymous.get("/login")
        assert (
            page.status_code == 200
            and "default-src 'self'" in page.headers["content-security-policy"]
        )
        # the docs pages and their assets are as open as /openapi.json
        assert anonymous.get("/docs").status_code == 200
        assert anonymous.get("/redoc").status_code == 200
        assert anonymous.get("/ui/static/vendor/uplot/LICENSE").status_code == 200


def test_the_api_takes_a_session_only_with_the_ui_header(ui: tuple[Served, httpx.Client]) -> None:
    _served, browser = ui
    assert browser.get("/api/v1/functions").status_code == 401  # a cross-site form's request
    assert browser.get("/api/v1/functions", headers={"x-constellation-ui": "1"}).status_code == 200
    browser.post("/logout")
    assert browser.get("/api/v1/functions", headers={"x-constellation-ui": "1"}).status_code == 401
    assert browser.get("/ui/data/overview").status_code == 401


def test_views_read_the_platform(ui: tuple[Served, httpx.Client]) -> None:
    served, browser = ui
    service = served.platform.serverless
    service.create_function("hello", "python", "echo", HANDLERS, env={"API_KEY": "s3cret"})
    service.create_function("broken", "python", "always_fail", HANDLERS)
    for _ in range(3):
        served.client.post("/api/v1/functions/hello/invoke", json={}).raise_for_status()
    served.client.post("/api/v1/functions/broken/invoke", json={})

    def counted() -> dict[str, object] | None:
        data = browser.get("/ui/data/overview").json()
        return data if data["totals"]["errors_1h"] == 1 else None

    overview = wait_until(counted, what="the overview counting the invocations")
    rows = {f["name"]: f for f in overview["functions"]}
    assert rows["hello"]["invocations_1h"] == 3 and sum(rows["hello"]["spark"]) == 3
    assert overview["totals"]["functions"] == 2
    page = browser.get("/ui/data/function", params={"name": "hello"}).json()
    assert page["function"]["env"]["API_KEY"] != "s3cret"
    assert "s3cret" not in str(page)
    assert sum(page["series"]["invocations"]) == 3
    assert all(p is not None and p >= 0 for p in page["series"]["p99_ms"])
    assert len(page["invocations"]) == 3 and page["billing"]["invocation_count"] == 3
    missing = browser.get("/ui/data/function", params={"name": "nope"})
    assert missing.status_code == 404
    assert browser.get("/ui/data/nope").status_code == 404
    for view in ("anomalies", "forecasts", "gpus", "wasm", "deployments"):
        assert browser.get(f"/ui/data/{view}").status_code == 200, view


def test_actions_check_their_input_and_need_the_ui_header(ui: tuple[Served, httpx.Client]) -> None:
    _served, browser = ui
    headers = {"x-constellation-ui": "1"}
    assert browser.post("/ui/action/restart", json={"instance_id": "x"}).status_code == 403
    r = browser.post("/ui/action/restart", json={}, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["field"] == "instance_id"
    r = browser.post("/ui/action/restart", json={"instance_id": "fi-none"}, headers=headers)
    assert r.status_code == 404
    r = browser.post("/ui/action/scale", json={"deployment": "d", "instances": -1}, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["field"] == "instances"


def test_the_event_stream_sends_the_live_view(ui: tuple[Served, httpx.Client]) -> None:
    served, browser = ui
    served.platform.serverless.create_function("hello", "python", "echo", HANDLERS)
    with browser.stream("GET", "/ui/events", params={"view": "function", "name": "hello"}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        assert next(lines) == "retry: 500"
        data = next(line for line in lines if line.startswith("data: "))
    assert '"instances"' in data and '"series"' in data
    assert browser.get("/ui/events", params={"view": "nope"}).status_code == 404


def test_browsers_on_one_view_share_its_computation() -> None:
    calls: list[tuple[str, str]] = []

    def compute(view: str, name: str) -> dict[str, str]:
        calls.append((view, name))
        return {"view": view}

    cache = _LiveCache(compute)

    async def many() -> list[bytes]:
        return await asyncio.gather(*(cache.get("overview", "") for _ in range(20)))

    answers = asyncio.run(many())
    assert len(set(answers)) == 1 and calls == [("overview", "")]
    asyncio.run(cache.get("function", "f"))
    assert calls[-1] == ("function", "f")


def test_dashboard_paths_are_not_trigger_routes(served: Served) -> None:
    served.create("root", "echo", triggers=[{"type": "http", "path": "/", "method": "GET"}])
    served.create("other", "echo")
    app = served.server.app
    # a trigger on / keeps it; the dashboard is still at /ui/ and its other paths
    wait_until(lambda: app.is_trigger_path("/"), what="the trigger on / seen")
    answer = httpx.get(served.url + "/")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    for path in DASHBOARD_PATHS - {"/"}:
        assert not app.is_trigger_path(path)
        r = served.client.post(
            "/api/v1/functions/other/triggers", json={"type": "http", "path": path}
        )
        assert r.status_code == 400, path
    assert not app.is_trigger_path("/ui/static/style.css")


def test_without_auth_the_dashboard_is_open(tmp_path: Path) -> None:
    with make_platform(tmp_path / "home") as platform:
        app = create_app(platform.serverless, token=None, platform=platform)
        with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
            assert client.get("/").status_code == 200
            assert client.get("/login").headers["location"] == "/"
            assert client.get("/ui/data/overview").json()["totals"]["functions"] == 0


def test_the_overview_reads_settled_minutes_once_and_counts_them_all() -> None:
    from constellation.server._dashboard_data import SETTLE_MINUTES, SPARK_MINUTES, _RecentCounts

    rows = {("a", m): (m % 7, m % 2, 1) for m in range(1000, 1100)}
    rows.update({("b", m): (3, 0, 0) for m in range(1050, 1100, 3)})
    asked: list[tuple[int, int]] = []

    class Service:
        def get_minute_counts(self, start: float, end: float) -> dict[str, dict[str, list[int]]]:
            lo, hi = int(start // 60), int(end // 60)
            asked.append((lo, hi))
            out: dict[str, dict[str, list[int]]] = {}
            for (fid, m), (n, e, c) in sorted(rows.items()):
                if lo <= m < hi:
                    cols = out.setdefault(
                        fid, {"minute": [], "invocations": [], "errors": [], "cold_starts": []}
                    )
                    for key, value in zip(cols, (m, n, e, c), strict=True):
                        cols[key].append(value)
            return out

    recent = _RecentCounts(Service())  # type: ignore[arg-type]
    for current in (1070, 1071, 1075, 1090):
        first = current - SPARK_MINUTES + 1
        got = recent.read(first, current, ["a", "b", "c"])
        for i, fid in enumerate(["a", "b", "c"]):
            for j in range(SPARK_MINUTES):
                assert tuple(got[:, i, j]) == rows.get((fid, first + j), (0, 0, 0))
    assert asked[0][0] == 1070 - SPARK_MINUTES + 1  # the whole hour once
    # then only what was unsettled at the call before, up to now
    starts = [lo for lo, _ in asked[1:]]
    assert starts == [c - SETTLE_MINUTES for c in (1070, 1071, 1075)]


def test_a_stopping_server_ends_its_event_streams(tmp_path: Path) -> None:
    import threading

    with make_platform(tmp_path / "home") as platform:
        app = create_app(platform.serverless, token=None, platform=platform)
        server = ServerThread(app).start()
        ended = threading.Event()
        got_data = threading.Event()

        def follow() -> None:
            try:
                with httpx.stream("GET", server.url + "/ui/events", timeout=60) as r:
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            got_data.set()
            except httpx.HTTPError:
                pass
            ended.set()

        threading.Thread(target=follow, daemon=True).start()
        wait_until(got_data.is_set, what="the first live update")
        server.close()
        # the stream was ended by the server, not left to run its 15 s lifetime
        assert app.dashboard.closing.is_set()
        wait_until(ended.is_set, what="the stream closed")
        assert not server._thread.is_alive()
