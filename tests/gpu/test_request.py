"""Every bad request the issue lists: a ValidationError naming the field, nothing allocated."""

from __future__ import annotations

import pytest

from constellation.errors import ValidationError
from constellation.gpu import GpuRequest


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"memory_mb": 0}, "memory_mb", "0 must be > 0"),
        ({"memory_mb": -5}, "memory_mb", "-5 must be > 0"),
        ({"gpu_count": 0}, "gpu_count", "out of range; expected 1-1024"),
        (
            {"mig_profile": "9g.1tb"},
            "mig_profile",
            "'9g.1tb' is not allowed; expected one of '1g.5gb'",
        ),
        (
            {"compute_share": 0, "memory_mb": 1},
            "compute_share",
            "out of range; expected 1-100 percent",
        ),
        (
            {"compute_share": 101, "memory_mb": 1},
            "compute_share",
            "out of range; expected 1-100 percent",
        ),
        (
            {"exclusive": True, "sharing": "mps"},
            "exclusive",
            "cannot be combined with sharing='mps'",
        ),
        ({"exclusive": True, "compute_share": 50}, "compute_share", "cannot be combined"),
        ({"vendor": "matrox"}, "vendor", "expected one of 'nvidia', 'amd', 'intel'"),
        (
            {"sharing": "fair"},
            "sharing",
            "expected one of 'exclusive', 'shared', 'mps', 'time_slice'",
        ),
        ({"sharing": "shared"}, "memory_mb", "is required with sharing='shared'"),
        (
            {"compute_share": 30, "sharing": "shared", "memory_mb": 1},
            "compute_share",
            "needs sharing='mps'",
        ),
        ({"mig_profile": "1g.10gb", "gpu_count": 2}, "gpu_count", "a MIG request is for 1 slice"),
        ({"mig_profile": "1g.10gb", "vendor": "amd"}, "mig_profile", "MIG is NVIDIA-only"),
        ({"min_compute_capability": "seven"}, "min_compute_capability", "expected a number"),
        ({"gpus": 1}, "gpus", "unknown field; expected one of gpu_count"),
        ({"gpu_count": True}, "gpu_count", "expected a whole number"),
    ],
)
def test_bad_requests(fields, field, message) -> None:
    with pytest.raises(ValidationError) as caught:
        GpuRequest.from_value(fields)
    assert caught.value.field == field
    assert message in str(caught.value)


def test_sharing_defaults() -> None:
    assert GpuRequest(memory_mb=1).sharing == "shared"
    assert GpuRequest(exclusive=True).sharing == "exclusive"
    assert GpuRequest(compute_share=25, memory_mb=1).sharing == "mps"
    assert GpuRequest(sharing="time_slice", replicas=8).replicas == 8
    assert GpuRequest(vendor="CUDA").vendor == "nvidia"
    assert (
        GpuRequest.from_value(
            {"gpu_count": 1, "memory_mb": 4096, "exclusive": False, "min_compute_capability": 7.0}
        ).memory_mb
        == 4096
    )
