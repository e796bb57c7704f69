"""Planning a MIG layout: the ``nvidia-smi mig`` commands that would create it.

:func:`plan_layout` checks a wished-for list of profiles against the GPU's profile table
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
from collections.abc import Callable, Sequence

from ..errors import ValidationError
from ._catalog import MIG_TABLES, mig_table_for
from ._model import Gpu
from ._tool import run_tool

__all__ = ["apply_layout", "plan_layout"]

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
