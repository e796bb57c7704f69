"""Fixtures for the server tests: a real platform served by uvicorn on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from constellation.platform import Constellation
from constellation.server import ServerThread, create_app, ensure_token

from ..serverless.conftest import HANDLERS, make_platform

__all__ = ["HANDLERS", "Served"]


@dataclass
class Served:
    platform: Constellation
    server: ServerThread
    token: str
    client: httpx.Client  # authenticated, base_url set

    @property
    def url(self) -> str:
        return self.server.url

    def create(self, name: str, handler: str, **fields: object) -> dict[str, object]:
        """A function from the shared handlers file (through the Python API)."""
        options = {k: v for k, v in fields.items() if k != "triggers"}
        info = self.platform.serverless.create_function(
            name, "python", handler, HANDLERS, **options
        )  # type: ignore[arg-type]
        for spec in fields.get("triggers", []):  # type: ignore[attr-defined]
            self.platform.serverless.add_trigger(info.id, spec)
        return info.to_dict()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with make_platform(tmp_path / "home") as platform:
        token, _ = ensure_token(platform.settings.home)
        app = create_app(platform.serverless, token=token)
        with (
            ServerThread(app) as server,
            httpx.Client(
                base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=30.0
            ) as client,
        ):
            yield Served(platform, server, token, client)
