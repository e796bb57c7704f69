"""Fixtures for the CLI tests: a real server on a free port for the remote CLI, and a
runner that keeps stdout and stderr apart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from constellation.cli import main
from constellation.platform import Constellation
from constellation.server import ServerThread, create_app, ensure_token

from ..serverless.conftest import HANDLERS, make_platform

__all__ = ["HANDLERS", "Served", "cli"]


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``constellation ARGS`` in this process; stdout and stderr stay apart."""
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@dataclass
class Served:
    platform: Constellation
    server: ServerThread
    token: str

    @property
    def url(self) -> str:
        return self.server.url

    def cli(self, *args: str) -> Result:
        """The CLI pointed at this server with its token."""
        return cli("--server", self.url, "--token", self.token, *args)


@pytest.fixture
def served(tmp_path: Path, tmp_home: Path) -> Iterator[Served]:
    """A served platform with its own home; the CLI's local home (``tmp_home``) is
    another, so a command that wrongly ran locally is seen."""
    with make_platform(tmp_path / "server-home") as platform:
        token, _ = ensure_token(platform.settings.home)
        app = create_app(platform.serverless, token=token)
        with ServerThread(app) as server:
            yield Served(platform, server, token)
