"""Stored code is checked against its hash; the remembered signature notices changes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from constellation.backends.local._integrity import CodeVerifier, stored_code_matches
from constellation.serverless._codestore import snapshot_code


@pytest.fixture
def package(tmp_path: Path) -> Path:
    source = tmp_path / "src" / "shop"
    (source / "orders").mkdir(parents=True)
    (source / "__init__.py").write_text("from .orders import handle\n")
    (source / "orders" / "__init__.py").write_text("def handle(e, c):\n    return 1\n")
    return source


def after_a_clock_tick(root: Path) -> None:
    """Wait until the file system's clock (coarse: a few ms) has moved past ``root``'s
    times, as it has for any change made later than the check it is compared with."""
    probe = root.parent / "tick"
    newest = max(os.lstat(p).st_ctime_ns for p in (root, *root.rglob("*")))
    while True:
        probe.write_bytes(b"")
        if probe.stat().st_ctime_ns > newest:
            return


def stored(source: Path, tmp_path: Path) -> tuple[Path, str]:
    snap = snapshot_code(source, tmp_path / "code")
    return tmp_path / "code" / snap.code_hash, snap.code_hash


def test_each_layout_matches_its_hash(tmp_path: Path, package: Path) -> None:
    single = tmp_path / "one.py"
    single.write_text("def handle(e, c):\n    return 1\n")
    modules = tmp_path / "mods"
    modules.mkdir()
    (modules / "a.py").write_text("X = 1\n")
    for source in (single, package, modules):
        root, code_hash = stored(source, tmp_path)
        assert stored_code_matches(root, code_hash), source
        assert not stored_code_matches(root, "0" * 64), source


def test_a_change_with_the_same_size_is_refused_after_a_remembered_check(
    tmp_path: Path, package: Path
) -> None:
    root, code_hash = stored(package, tmp_path)
    verifier = CodeVerifier(settle_ns=0)
    assert verifier.verify(root, code_hash)
    assert verifier.verify(root, code_hash)  # the remembered signature
    after_a_clock_tick(root)
    target = root / "shop" / "orders" / "__init__.py"
    target.chmod(0o644)
    text = target.read_text()
    target.write_text(text.replace("1", "2"))  # same size, new content
    assert not verifier.verify(root, code_hash)


def add_a_module(folder: Path) -> None:
    (folder / "evil.py").write_text("import os\n")


def remove_a_module(folder: Path) -> None:
    (folder / "__init__.py").unlink()


@pytest.mark.parametrize("change", [add_a_module, remove_a_module])
def test_a_file_added_or_removed_deep_in_the_tree_is_refused(
    tmp_path: Path, package: Path, change: Callable[[Path], None]
) -> None:
    root, code_hash = stored(package, tmp_path)
    verifier = CodeVerifier(settle_ns=0)
    assert verifier.verify(root, code_hash)
    after_a_clock_tick(root)
    folder = root / "shop" / "orders"
    folder.chmod(0o755)
    change(folder)
    assert not verifier.verify(root, code_hash)


def test_a_tree_back_as_deployed_is_accepted_again(tmp_path: Path, package: Path) -> None:
    root, code_hash = stored(package, tmp_path)
    verifier = CodeVerifier(settle_ns=0)
    folder = root / "shop" / "orders"
    folder.chmod(0o755)
    add_a_module(folder)
    assert not verifier.verify(root, code_hash)
    (folder / "evil.py").unlink()
    assert verifier.verify(root, code_hash)  # hashed again, it matches


def test_bytecode_caches_are_not_part_of_the_code(tmp_path: Path, package: Path) -> None:
    root, code_hash = stored(package, tmp_path)
    verifier = CodeVerifier(settle_ns=0)
    assert verifier.verify(root, code_hash)
    folder = root / "shop"
    folder.chmod(0o755)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "orders.cpython-312.pyc").write_bytes(b"\0" * 16)
    assert verifier.verify(root, code_hash)


def test_a_tree_changed_moments_ago_is_hashed_every_time(tmp_path: Path, package: Path) -> None:
    root, code_hash = stored(package, tmp_path)
    verifier = CodeVerifier()  # the default: remembered once still for 50 ms
    assert verifier.verify(root, code_hash)
    target = root / "shop" / "orders" / "__init__.py"
    target.chmod(0o644)
    target.write_text(target.read_text().replace("1", "2"))  # maybe in the same clock tick
    assert not verifier.verify(root, code_hash)


def test_a_missing_tree_is_refused(tmp_path: Path) -> None:
    assert not CodeVerifier(settle_ns=0).verify(tmp_path / "gone", "0" * 64)
