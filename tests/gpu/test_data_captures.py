"""Every capture in $CONSTELLATION_DATA/gpu-captures parses with the production parsers."""

from __future__ import annotations

from pathlib import Path

import pytest

from constellation.gpu import load_capture

pytestmark = pytest.mark.data


def captures(data_dir: Path) -> list[Path]:
    root = data_dir / "gpu-captures"
    return sorted(p for p in root.rglob("*") if p.suffix in (".xml", ".json", ".txt"))


def test_every_shared_capture_parses(data_dir: Path) -> None:
    found = captures(data_dir)
    assert len(found) == 15
    for path in found:
        gpus = load_capture(path)
        assert gpus, path.name
        for gpu in gpus:
            assert gpu.name and gpu.memory_total and gpu.memory_total > 1000, path.name
            assert gpu.vendor in ("nvidia", "amd")
