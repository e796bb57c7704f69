"""Known facts about GPU models (MIG profile tables, CUDA compute capabilities), and MIG plans.

The MIG tables follow NVIDIA's MIG User Guide ("Supported MIG Profiles") for A100
40 GB, A100 80 GB, H100 80 GB and H200 141 GB: each profile's compute slices (the
``Ng`` part), memory slices (of 8), memory and the most instances one GPU holds.
Memory is MiB as ``nvidia-smi`` reports it for the slice; where a capture shows the
real figure (H100: 9984, 20096, 40448) that figure is used, elsewhere it is the
guide's size, so treat it as approximate. Placement prefers the memory of the MIG
devices actually discovered.

``nvidia-smi -q -x`` does not print compute capability, so the XML backend looks it up
here by product name (NVML and ``--query-gpu=compute_cap`` report it directly).

Planning a MIG layout: :func:`plan_layout` checks a wished-for list of profiles against the GPU's profile table
(each profile's most instances per GPU, 7 compute slices and 8 memory slices in all)
and returns the commands, in order: enable MIG mode if it is off, destroy the compute
and GPU instances there now, create the new GPU instances with their default compute
instances (``-cgi ... -C``). Nothing runs unless :func:`apply_layout` is called (the CLI's
``--apply``), since destroying instances kills whatever runs on them. NVIDIA also
constrains *where* each instance may sit; a layout that passes these checks can still
be refused by the driver, whose message is then reported as is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..errors import ValidationError
from ._backend import run_tool
from ._model import Gpu

__all__ = [
    "MIG_TABLES",
    "MigProfile",
    "all_profile_names",
    "apply_layout",
    "compute_capability_for",
    "infer_profile",
    "mig_table_for",
    "plan_layout",
]


@dataclass(frozen=True, slots=True)
class MigProfile:
    name: str  # "1g.10gb"
    compute_slices: int  # of 7
    memory_slices: int  # of 8
    memory_mb: int
    max_instances: int


def _table(rows: Iterable[tuple[str, int, int, int, int]]) -> dict[str, MigProfile]:
    return {r[0]: MigProfile(*r) for r in rows}


# name, compute slices, memory slices, memory MiB, most instances per GPU
MIG_TABLES: dict[str, dict[str, MigProfile]] = {
    "A100-40GB": _table(
        [
            ("1g.5gb", 1, 1, 4864, 7),
            ("1g.5gb+me", 1, 1, 4864, 1),
            ("1g.10gb", 1, 2, 9984, 4),
            ("2g.10gb", 2, 2, 9984, 3),
            ("3g.20gb", 3, 4, 20096, 2),
            ("4g.20gb", 4, 4, 20096, 1),
            ("7g.40gb", 7, 8, 40192, 1),
        ]
    ),
    "A100-80GB": _table(
        [
            ("1g.10gb", 1, 1, 9728, 7),
            ("1g.10gb+me", 1, 1, 9728, 1),
            ("1g.20gb", 1, 2, 19968, 4),
            ("2g.20gb", 2, 2, 19968, 3),
            ("3g.40gb", 3, 4, 40192, 2),
            ("4g.40gb", 4, 4, 40192, 1),
            ("7g.80gb", 7, 8, 80896, 1),
        ]
    ),
    "H100-80GB": _table(
        [
            ("1g.10gb", 1, 1, 9984, 7),
            ("1g.10gb+me", 1, 1, 9984, 1),
            ("1g.20gb", 1, 2, 20096, 4),
            ("2g.20gb", 2, 2, 20096, 3),
            ("3g.40gb", 3, 4, 40448, 2),
            ("4g.40gb", 4, 4, 40448, 1),
            ("7g.80gb", 7, 8, 80896, 1),
        ]
    ),
    "H200-141GB": _table(
        [
            ("1g.18gb", 1, 1, 16384, 7),
            ("1g.18gb+me", 1, 1, 16384, 1),
            ("1g.35gb", 1, 2, 32768, 4),
            ("2g.35gb", 2, 2, 32768, 3),
            ("3g.71gb", 3, 4, 69632, 2),
            ("4g.71gb", 4, 4, 69632, 1),
            ("7g.141gb", 7, 8, 140288, 1),
        ]
    ),
}

# SMs per compute slice, to tell apart profiles of equal memory (1g.20gb vs 2g.20gb).
_SMS_PER_SLICE = {"A100-40GB": 14, "A100-80GB": 14, "H100-80GB": 16, "H200-141GB": 16}


def all_profile_names() -> list[str]:
    names: set[str] = set()
    for table in MIG_TABLES.values():
        names.update(table)

    def order(name: str) -> tuple[int, int, str]:  # 1g.5gb < 1g.10gb < 2g.10gb
        slices, _, rest = name.partition("g.")
        return int(slices), int(rest.split("gb")[0]), name

    return sorted(names, key=order)


def mig_table_for(
    name: str, memory_total_mb: int | None
) -> tuple[str, dict[str, MigProfile]] | None:
    """The MIG table of a GPU model, by product name (and memory for the A100s)."""
    upper = name.upper()
    if "A100" in upper:
        key = "A100-80GB" if (memory_total_mb or 0) > 50_000 or "80GB" in upper else "A100-40GB"
    elif "H200" in upper:
        key = "H200-141GB"
    elif "H100" in upper and (memory_total_mb is None or memory_total_mb < 90_000):
        key = "H100-80GB"
    else:
        return None
    return key, MIG_TABLES[key]


def infer_profile(
    gpu_name: str, gpu_memory_mb: int | None, slice_memory_mb: int | None, sms: int | None
) -> str | None:
    """Name the profile of a MIG device that the XML output describes only by its size."""
    found = mig_table_for(gpu_name, gpu_memory_mb)
    if found is None or slice_memory_mb is None:
        return None
    key, table = found
    close = [
        p for p in table.values() if "+me" not in p.name and _near(p.memory_mb, slice_memory_mb)
    ]
    if not close:
        return None
    if len(close) == 1 or sms is None:
        return close[0].name
    per_slice = _SMS_PER_SLICE[key]
    return min(close, key=lambda p: abs(p.compute_slices * per_slice - sms)).name


def _near(a: int, b: int) -> bool:
    return abs(a - b) <= 0.06 * max(a, b)


# CUDA compute capability by product-name fragment, most specific first.
_COMPUTE_CAPABILITY: tuple[tuple[str, float], ...] = (
    ("GB200", 10.0),
    ("B200", 10.0),
    ("RTX PRO 6000 BLACKWELL", 12.0),
    ("RTX 50", 12.0),
    ("H200", 9.0),
    ("H100", 9.0),
    ("GH200", 9.0),
    ("L40S", 8.9),
    ("L40", 8.9),
    ("L4", 8.9),
    ("RTX 40", 8.9),
    ("RTX 6000 ADA", 8.9),
    ("A100", 8.0),
    ("A30", 8.0),
    ("A10G", 8.6),
    ("A10", 8.6),
    ("RTX A", 8.6),
    ("RTX 30", 8.6),
    ("A40", 8.6),
    ("T4", 7.5),
    ("RTX 20", 7.5),
    ("QUADRO RTX", 7.5),
    ("V100", 7.0),
    ("TITAN V", 7.0),
    ("P100", 6.0),
    ("GTX 10", 6.1),
    ("P40", 6.1),
    ("P4", 6.1),
)


def compute_capability_for(name: str) -> float | None:
    upper = name.upper().replace("GEFORCE ", "").replace("NVIDIA ", "").replace("TESLA ", "")
    for fragment, capability in _COMPUTE_CAPABILITY:
        if fragment in upper:
            return capability
    return None


Command = list[str]


def plan_layout(gpu: Gpu, profiles: Sequence[str]) -> list[Command]:
    if gpu.vendor != "nvidia":
        raise ValidationError("gpu", f"{gpu.id} is {gpu.vendor}; MIG is NVIDIA-only")
    found = mig_table_for(gpu.name, gpu.memory_total)
    if found is None:
        known = ", ".join(MIG_TABLES)
        raise ValidationError(
            "gpu", f"{gpu.id} ({gpu.name}) has no known MIG table; known: {known}"
        )
    model, table = found
    if not profiles:
        raise ValidationError("profiles", "name at least one MIG profile")
    for name in profiles:
        if name not in table:
            raise ValidationError.choice("profiles", name, list(table))
    for name, count in Counter(profiles).items():
        most = table[name].max_instances
        if count > most:
            raise ValidationError(
                "profiles", f"{count} x {name} is more than {model} allows ({most} per GPU)"
            )
    compute = sum(table[p].compute_slices for p in profiles)
    memory = sum(table[p].memory_slices for p in profiles)
    if compute > 7:
        raise ValidationError("profiles", f"the layout needs {compute} compute slices; a GPU has 7")
    if memory > 8:
        raise ValidationError("profiles", f"the layout needs {memory} memory slices; a GPU has 8")
    index = str(gpu.index)
    commands: list[Command] = []
    if not gpu.mig_enabled:
        commands.append(["nvidia-smi", "-i", index, "-mig", "1"])
    if gpu.mig_devices:
        commands.append(["nvidia-smi", "mig", "-i", index, "-dci"])
        commands.append(["nvidia-smi", "mig", "-i", index, "-dgi"])
    commands.append(["nvidia-smi", "mig", "-i", index, "-cgi", ",".join(profiles), "-C"])
    return commands


def apply_layout(
    commands: Sequence[Command],
    *,
    timeout: float = 60.0,
    run: Callable[[str, Sequence[str], float], str] = run_tool,
) -> list[str]:
    """Run the planned commands in order, stopping at the first failure (which raises)."""
    return [run("nvidia-smi mig", command, timeout) for command in commands]
