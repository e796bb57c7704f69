"""Bearer-token authentication, the token file, and the loopback-only --no-auth."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from constellation.cli import main
from constellation.errors import ValidationError
from constellation.server import (
    InsecureBindError,
    ServerThread,
    check_bind,
    create_app,
    ensure_token,
    is_loopback,
    read_token,
    token_path,
)

from ..serverless.conftest import make_platform
from .conftest import Served


def test_token_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    assert read_token(tmp_path) is None
    token, created = ensure_token(tmp_path)
    assert created and token.startswith("cst_") and len(token) > 40
    assert stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600
    again, created_again = ensure_token(tmp_path)
    assert again == token and not created_again
    assert read_token(tmp_path) == token


def test_api_needs_the_bearer_token(served: Served) -> None:
    url = served.url + "/api/v1/functions"
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": served.token}):
        r = httpx.get(url, headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["type"] == "Unauthorized"
    assert httpx.get(url, headers={"authorization": f"bearer {served.token}"}).status_code == 200
    for open_path in ("/healthz", "/metrics", "/openapi.json"):
        assert httpx.get(served.url + open_path).status_code == 200


def test_no_auth_only_on_loopback(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert is_loopback(host)
        check_bind(host, auth=False)
    for host in ("0.0.0.0", "192.168.1.4", "::", "example.com"):
        assert not is_loopback(host)
        check_bind(host, auth=True)
        with pytest.raises(InsecureBindError, match="loopback") as info:
            check_bind(host, auth=False)
        assert isinstance(info.value, ValidationError) and info.value.field == "host"


def test_no_auth_server_answers_without_a_token(tmp_path: Path) -> None:
    with make_platform(tmp_path / "home") as platform:
        app = create_app(platform.serverless, token=None)
        with ServerThread(app) as server:
            assert httpx.get(server.url + "/api/v1/functions").status_code == 200


def test_cli_token_and_serve_refusal(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CONSTELLATION_HOME": str(tmp_path)}
    shown = runner.invoke(main, ["token"], env=env)
    assert shown.exit_code == 0 and shown.output.strip() == read_token(tmp_path)
    assert runner.invoke(main, ["token"], env=env).output == shown.output
    refused = runner.invoke(main, ["serve", "--host", "0.0.0.0", "--no-auth"], env=env)
    assert refused.exit_code != 0 and "loopback" in refused.output
