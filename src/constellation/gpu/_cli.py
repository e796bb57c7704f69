"""``constellation gpu ...``: list, watch, allocate and release GPUs, plan MIG layouts.

Every command takes ``--simulate FILE`` to run on a saved capture instead of this
machine's tools. Allocations are kept in the platform's store (``$CONSTELLATION_HOME``),
the same one the platform uses, so ``gpu allocate`` here is seen by a running server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..config import load_settings
from ..errors import ConstellationError
from ..store import Store
from ._backend import StaticBackend
from ._capture import load_capture
from ._catalog import apply_layout, plan_layout
from ._discovery import Discovery
from ._manager import GpuManager
from ._model import Gpu

__all__ = ["cli"]

cli = click.Group("gpu", help="Discover, allocate and monitor GPUs (NVIDIA, AMD, Intel).")
_simulate = click.option(
    "--simulate",
    type=click.Path(exists=True, path_type=Path),
    help="Use a saved capture (nvidia-smi XML/CSV capture, rocm-smi/amd-smi JSON, xpu-smi folder).",
)


def _discovery(simulate: Path | None) -> Discovery:
    if simulate is None:
        return Discovery()
    return Discovery([StaticBackend(load_capture(simulate), name=f"simulate:{simulate.name}")])


def _manager(simulate: Path | None, placement: str = "binpack") -> GpuManager:
    store = Store(load_settings().db_path)
    return GpuManager(store, _discovery(simulate), placement=placement)


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "N/A" if value is None else f"{value:.{digits}f}{unit}"


def _table(gpus: list[Gpu], committed: dict[str, int] | None = None) -> str:
    header = ["ID", "NAME", "MEMORY (used/total MB)", "UTIL", "TEMP", "POWER", "CC", "MIG"]
    if committed is not None:
        header.append("ALLOCATED MB")
    rows = [header]
    for g in gpus:
        mig = ",".join(m.profile or "?" for m in g.mig_devices) if g.mig_enabled else "-"
        row = [
            g.id,
            g.name,
            f"{_fmt(g.memory_used)}/{_fmt(g.memory_total)}",
            _fmt(g.utilization, "%"),
            _fmt(g.temperature, "C"),
            f"{_fmt(g.power_draw, 'W', 1)}/{_fmt(g.power_limit, 'W')}",
            _fmt(g.compute_capability, digits=1),
            mig or "on",
        ]
        if committed is not None:
            row.append(str(committed.get(g.id, 0)))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the platform's errors into a clean CLI error (exit code 1, the message)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConstellationError as exc:
            raise click.ClickException(str(exc)) from None

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


_output = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table (full width, nothing cut) or JSON.",
)
_json = click.option("--json", "as_json", is_flag=True, help="Short for -o json.")


@cli.command("ls")
@_simulate
@_output
@_json
@_guard
def ls_command(simulate: Path | None, output: str, as_json: bool) -> None:
    """List the GPUs; when there are none, say which backends were tried and why."""
    with _manager(simulate) as manager:
        gpus = manager.discover()
        if as_json or output == "json":
            payload = {"devices": [g.as_dict() for g in gpus], "stats": manager.stats()}
            click.echo(json.dumps(payload, indent=2))
            return
        if not gpus:
            click.echo("No GPUs found. Backends tried:")
            for report in manager.discovery.reports:
                click.echo(f"  {report.backend:<11} {report.status:<12} {report.detail}")
            return
        click.echo(_table(gpus, manager.committed()))


@cli.command("watch")
@_simulate
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(min=0.05))
@click.option(
    "--count", default=0, type=click.IntRange(min=0), help="Stop after N samples (0: never)."
)
@_guard
def watch_command(simulate: Path | None, interval: float, count: int) -> None:
    """Print fresh readings every INTERVAL seconds."""
    with _manager(simulate) as manager:
        n = 0
        while True:
            gpus = manager.discover(refresh=True)
            click.echo(time.strftime("%H:%M:%S"))
            click.echo(_table(gpus) if gpus else "No GPUs found: " + manager.discovery.why_none())
            n += 1
            if count and n >= count:
                return
            time.sleep(interval)


@cli.command("allocate")
@click.argument("owner")
@_simulate
@click.option("--count", "gpu_count", default=1, show_default=True, type=int)
@click.option("--memory-mb", type=int)
@click.option("--exclusive", is_flag=True)
@click.option("--sharing", type=click.Choice(["exclusive", "shared", "mps", "time_slice"]))
@click.option("--compute-share", type=int, help="Percent of SMs through MPS (1-100).")
@click.option("--mig-profile", help='A MIG slice, e.g. "1g.10gb".')
@click.option("--vendor", type=str)
@click.option("--min-compute-capability", type=float)
@click.option("--replicas", default=4, show_default=True, type=int, help="time_slice slots.")
@click.option("--placement", default="binpack", type=click.Choice(["binpack", "spread"]))
@_guard
def allocate_command(owner: str, simulate: Path | None, placement: str, **request: Any) -> None:
    """Allocate GPUs to OWNER and print the environment the instance gets."""
    with _manager(simulate, placement) as manager:
        allocation = manager.allocate(owner, request)
        if allocation is None:
            raise click.ClickException(str(manager.explain(request)))
        click.echo(f"allocated {', '.join(allocation.gpu_ids)} to {owner} ({allocation.sharing})")
        for key, value in sorted(allocation.env.items()):
            click.echo(f"{key}={value}")


@cli.command("release")
@click.argument("owner")
@_simulate
@_guard
def release_command(owner: str, simulate: Path | None) -> None:
    """Give OWNER's GPUs back."""
    with _manager(simulate) as manager:
        if not manager.deallocate(owner):
            raise click.ClickException(f"{owner!r} holds no GPU allocation")
        click.echo(f"released {owner}")


@cli.command("allocations")
@_simulate
@_output
@_json
@_guard
def allocations_command(simulate: Path | None, output: str, as_json: bool) -> None:
    """List the live allocations (one tab-separated line each, or JSON)."""
    with _manager(simulate) as manager:
        if as_json or output == "json":
            payload = {
                "allocations": [
                    {
                        "owner": a.owner,
                        "gpu_ids": list(a.gpu_ids),
                        "sharing": a.sharing,
                        "memory_mb": a.memory_mb,
                    }
                    for a in manager.allocations()
                ],
                "orphaned": dict(manager.orphaned),
            }
            click.echo(json.dumps(payload, indent=2, default=str))
            return
        for a in manager.allocations():
            click.echo(f"{a.owner}\t{','.join(a.gpu_ids)}\t{a.sharing}\t{a.memory_mb} MB")
        for owner, why in manager.orphaned.items():
            click.echo(f"{owner}\torphaned: {why}")


@cli.group("mig")
def mig_group() -> None:
    """MIG layouts."""


@mig_group.command("plan")
@click.argument("gpu_id")
@click.argument("profiles", nargs=-1, required=True)
@_simulate
@click.option(
    "--apply", "apply_", is_flag=True, help="Run the commands (destroys existing instances)."
)
@_guard
def mig_plan_command(
    gpu_id: str, profiles: tuple[str, ...], simulate: Path | None, apply_: bool
) -> None:
    """Print the nvidia-smi commands that create PROFILES on GPU_ID (run them with --apply)."""
    discovery = _discovery(simulate)
    discovery.discover()
    key: object = int(gpu_id) if gpu_id.isdigit() else gpu_id
    commands = plan_layout(discovery.get(key), list(profiles))
    for command in commands:
        click.echo(" ".join(command))
    if apply_:
        for output in apply_layout(commands):
            click.echo(output.rstrip())
