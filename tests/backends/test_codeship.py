"""Shipping code to nodes: pack once per hash, unpack once per node, nothing unsafe."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from constellation.backends.ray._codeship import pack_code, unpack_code


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_package_round_trips_and_packs_the_same_every_time(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg" / "__pycache__").mkdir(parents=True)
    (src / "main.py").write_text("from pkg.util import f\n")
    (src / "pkg" / "__init__.py").write_text("")
    (src / "pkg" / "util.py").write_text("def f():\n    return 1\n")
    (src / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"stale")
    blob = pack_code(src)
    assert blob == pack_code(src)
    out = unpack_code(blob, "abc123", base=tmp_path / "nodes")
    assert out == tmp_path / "nodes" / "abc123"
    assert _tree(out) == {k: v for k, v in _tree(src).items() if "__pycache__" not in k}


def test_an_unpacked_tree_is_reused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.py").write_text("x = 1\n")
    base = tmp_path / "nodes"
    first = unpack_code(pack_code(src), "h1", base=base)
    (first / "marker").write_text("kept")
    again = unpack_code(pack_code(src), "h1", base=base)
    assert (again / "marker").read_text() == "kept"
    assert [p.name for p in base.iterdir()] == ["h1"]  # no staging left behind


def test_an_archive_that_escapes_its_folder_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../evil.py", "boom")
    with pytest.raises(ValueError, match="unsafe path"):
        unpack_code(buffer.getvalue(), "h2", base=tmp_path / "nodes")
    assert not (tmp_path / "evil.py").exists()
    assert not (tmp_path / "nodes" / "h2").exists()


@pytest.mark.parametrize("bad", ["", "../x", ".hidden", "a/b"])
def test_a_bad_hash_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="bad code hash"):
        unpack_code(b"", bad, base=tmp_path)
