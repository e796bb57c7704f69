"""The hostile-tenant suite: a real platform (sandbox on where the machine allows it),
an attacker function and a neighbour that must keep answering."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from constellation.backends import detect_isolation
from constellation.platform import Constellation
from constellation.server import ensure_token

from ..server.conftest import Served, served
from ..serverless.conftest import make_platform

__all__ = ["HOSTILE", "ISOLATION", "MAX_PIDS", "Served", "Tenants", "served"]

HOSTILE = str(Path(__file__).resolve().parents[1] / "fixtures" / "security" / "hostile.py")
ISOLATION = detect_isolation("auto")
MAX_PIDS = 40  # the attacker's process limit in these tests
SECRET = "neighbour-secret-4d9a1c"

sandboxed = pytest.mark.skipif(
    not ISOLATION.sandboxed, reason=f"no sandbox on this machine: {ISOLATION.describe()}"
)


@dataclass
class Tenants:
    platform: Constellation
    home: Path
    token: str

    def attack(self, handler: str, event: object) -> object:
        result = self.platform.serverless.invoke_sync(handler.replace("_", "-"), event)
        assert result.status == "success", (result.error, result.traceback)
        return result.output

    def neighbour_answers(self) -> None:
        result = self.platform.serverless.invoke_sync("neighbour", {"still": "here"})
        assert result.status == "success" and result.output == {"still": "here"}, result

    def code_file(self, function: str) -> Path:
        info = self.platform.serverless.get_function(function)
        return next((self.platform.settings.code_dir / info.code_hash).glob("*.py"))


ATTACKS = ("kill_server", "read_files", "read_all_environ", "write_files", "fork_many")


@pytest.fixture
def tenants(tmp_path: Path) -> Iterator[Tenants]:
    home = tmp_path / "home"
    with make_platform(home, sandbox_max_pids=MAX_PIDS) as platform:
        token, _ = ensure_token(home)
        sls = platform.serverless
        neighbour = tmp_path / "neighbour.py"  # code of its own: another folder of the store
        neighbour.write_text("def echo(event, context):\n    return event\n")
        sls.create_function("neighbour", "python", "echo", neighbour, env={"API_KEY": SECRET})
        for attack in ATTACKS:
            sls.create_function(attack.replace("_", "-"), "python", attack, HOSTILE)
        yield Tenants(platform, home, token)
