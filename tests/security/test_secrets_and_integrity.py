"""Secrets at rest and code integrity: the database alone leaks no secret; stored code
that changed after deploy never runs."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

from click.testing import CliRunner

from constellation.cli import main
from constellation.serverless import rotate_secrets_key

from ..serverless.conftest import make_platform
from .conftest import HOSTILE

SECRET = "sk-live-7f3e9b2d1c"


def _db_bytes(home: Path) -> bytes:
    """The database and its write-ahead log, as an attacker copying them would get."""
    return b"".join(p.read_bytes() for p in home.glob("constellation.db*"))


def test_the_database_alone_leaks_no_secret(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with make_platform(home) as platform:
        sls = platform.serverless
        sls.create_function("payments", "python", "echo", HOSTILE, env={"STRIPE_KEY": SECRET})
        sls.set_env_var("payments", "OTHER", SECRET + "-2")
        assert sls.get_function("payments").env == {"STRIPE_KEY": SECRET, "OTHER": SECRET + "-2"}
        key = platform.settings.secrets_key_path
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert SECRET.encode() not in _db_bytes(home)
    assert SECRET.encode() not in _db_bytes(home)
    with make_platform(home) as again:  # the key file opens them again
        assert again.serverless.get_function("payments").env["STRIPE_KEY"] == SECRET


def test_an_empty_environment_is_stored_as_is_and_a_set_one_encrypted(tmp_path: Path) -> None:
    home = tmp_path / "home"

    def stored() -> str:
        with sqlite3.connect(home / "constellation.db") as conn:
            text: str = conn.execute("SELECT env FROM functions").fetchone()[0]
        return text

    with make_platform(home) as platform:
        sls = platform.serverless
        sls.create_function("plain", "python", "echo", HOSTILE)
        assert stored() == "{}"  # nothing to hide: no encryption
        sls.set_env_var("plain", "K", SECRET)
        assert stored().startswith("fernet:") and SECRET not in stored()
        sls.update_function("plain", {"env": {"K": None}})  # null unsets
        assert stored() == "{}" and sls.get_function("plain").env == {}
    with make_platform(home) as again:  # opening leaves it as it is
        assert again.serverless.get_function("plain").env == {}
    assert stored() == "{}"


def test_clear_text_from_an_older_release_is_encrypted_on_open(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with make_platform(home) as platform:
        platform.serverless.create_function("old", "python", "echo", HOSTILE, env={"K": "v"})
    with sqlite3.connect(home / "constellation.db") as conn:  # as release 0.1 wrote it
        conn.execute("UPDATE functions SET env = ?", (json.dumps({"K": SECRET}),))
    with make_platform(home) as platform:
        assert platform.serverless.get_function("old").env == {"K": SECRET}
    assert SECRET.encode() not in _db_bytes(home)


def test_rotating_the_key_reencrypts_every_function(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with make_platform(home) as platform:
        platform.serverless.create_function("a", "python", "echo", HOSTILE, env={"K": SECRET})
        settings = platform.settings
    old_key = settings.secrets_key_path.read_bytes()
    with sqlite3.connect(home / "constellation.db") as conn:
        before = conn.execute("SELECT env FROM functions").fetchone()[0]
    assert rotate_secrets_key(settings) == 1
    assert settings.secrets_key_path.read_bytes() != old_key
    assert stat.S_IMODE(settings.secrets_key_path.stat().st_mode) == 0o600
    with sqlite3.connect(home / "constellation.db") as conn:
        assert conn.execute("SELECT env FROM functions").fetchone()[0] != before
    with make_platform(home) as platform:
        assert platform.serverless.get_function("a").env == {"K": SECRET}


def test_rotate_key_and_doctor_commands(tmp_path: Path, monkeypatch: object) -> None:
    home = tmp_path / "home"
    with make_platform(home) as platform:
        platform.serverless.create_function("a", "python", "echo", HOSTILE, env={"K": SECRET})
    env = {"CONSTELLATION_HOME": str(home)}
    rotated = CliRunner().invoke(main, ["secrets", "rotate-key"], env=env)
    assert rotated.exit_code == 0 and "1 function" in rotated.output, rotated.output
    doctor = CliRunner().invoke(main, ["doctor"], env=env)
    assert doctor.exit_code == 0, doctor.output
    assert doctor.output.startswith("isolation: ")
    assert "mode 0600, ok" in doctor.output


def test_changed_code_is_refused_with_an_anomaly(tmp_path: Path) -> None:
    with make_platform(tmp_path / "home") as platform:
        sls = platform.serverless
        info = sls.create_function("victim", "python", "echo", HOSTILE)
        assert sls.invoke_sync("victim", {"n": 1}).status == "success"
        stored = next((platform.settings.code_dir / info.code_hash).glob("*.py"))
        stored.chmod(0o644)
        with stored.open("a") as out:  # what an unsandboxed neighbour could do
            out.write("\nraise SystemExit('owned')\n")
        sls.set_env_var("victim", "NEW", "1")  # its instances are replaced
        result = sls.invoke_sync("victim", {"n": 2})
        assert result.status != "success"
        assert "no longer matches its hash" in str(result.error)
        found = platform.anomaly.get_active(metric="function.victim.code_integrity")
        assert found and found[0].severity == "critical"
