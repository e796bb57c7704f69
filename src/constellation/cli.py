"""The ``constellation`` command line.

``constellation run`` runs the platform in the foreground. The other commands work on
the same state (SQLite under ``$CONSTELLATION_HOME``): they run no background loops of
their own, and reach a running platform through its control tables where they need it
(``instances list|restart``).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .config import BACKENDS
from .errors import ConstellationError
from .platform import Constellation

console = Console()


@contextmanager
def _platform(background: bool = False, **overrides: Any) -> Iterator[Constellation]:
    try:
        with Constellation(background=background, **overrides) as platform:
            yield platform
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row))
    console.print(table)


class _LazyGroup(click.Group):
    """Mounts each capability's command group on first use, so ``constellation functions
    ...`` does not import numpy, wasmtime and the rest."""

    LAZY = {
        "anomaly": "constellation.anomaly._cli",
        "gpu": "constellation.gpu._cli",
        "predictive": "constellation.predictive._cli",
        "triggers": "constellation.triggers._cli",
        "wasm": "constellation.wasm._cli",
    }

    # Shortcuts to a capability's subcommand: ``constellation predict FILE.csv``.
    ALIASES = {"predict": ("predictive", "forecast")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY, *self.ALIASES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.ALIASES and cmd_name not in self.commands:
            group_name, sub = self.ALIASES[cmd_name]
            group = self.get_command(ctx, group_name)
            if isinstance(group, click.Group) and sub in group.commands:
                self.add_command(group.commands[sub], cmd_name)
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module = importlib.import_module(self.LAZY[cmd_name])
            self.add_command(module.cli, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="constellation")
def main() -> None:
    """Constellation: serverless functions, WASM, GPUs, predictive scaling, anomaly detection."""


def _backend_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--address",
        default=None,
        help="With --backend ray: the cluster to join ('auto', HOST:PORT or "
        "ray://HOST:10001); without it a local Ray is started.",
    )(command)
    return click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default=None,
        help="Where instances run: local processes or Ray actors (default: the "
        "'backend' setting, local).",
    )(command)


def _backend_overrides(backend: str | None, address: str | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if backend is not None:
        overrides["backend"] = backend
    if address is not None:
        if (backend or os.environ.get("CONSTELLATION_BACKEND", "local")) != "ray":
            raise click.BadParameter("is only used with --backend ray", param_hint="--address")
        overrides["ray_address"] = address
    return overrides


@main.command()
@_backend_options
def run(backend: str | None, address: str | None) -> None:
    """Run the platform in the foreground until Ctrl-C (embedded defaults)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with _platform(background=True, **_backend_overrides(backend, address)) as platform:
        platform.start()
        stats = platform.serverless.get_serverless_stats()
        console.print(f"Constellation running (home: {platform.settings.home})")
        console.print(
            f"  functions: {stats.functions}, deployments: {len(platform.deployments.list_deployments())}"
        )
        console.print(f"  instances run on: {platform.settings.backend}")
        console.print("  async invocations are dispatched here; Ctrl-C stops the platform")
        stop.wait()
        console.print("stopping: flushing the ledger and ending every instance")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--no-auth", is_flag=True, help="No bearer token on /api/v1 (loopback addresses only)."
)
@_backend_options
def serve(host: str, port: int, no_auth: bool, backend: str | None, address: str | None) -> None:
    """Run the platform as a server: REST API, HTTP triggers, timers, /metrics."""
    from .server import check_bind
    from .server import serve as run_server

    overrides = _backend_overrides(backend, address)
    try:
        check_bind(host, not no_auth)
        platform = Constellation(background=True, **overrides)
        run_server(platform, host, port, auth=not no_auth, echo=click.echo)
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
def token() -> None:
    """Print the server's API token (made now if the server never started)."""
    from .config import load_settings
    from .server import ensure_token

    try:
        home = load_settings().home
    except ConstellationError as exc:
        raise click.ClickException(str(exc)) from None
    value, _ = ensure_token(home)
    click.echo(value)


# -- functions -------------------------------------------------------------------------
@main.group()
def functions() -> None:
    """Create, deploy, invoke and inspect serverless functions."""


def _parse_env(pairs: tuple[str, ...]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--env")
        env[name] = value
    return env


def _parse_amounts(pairs: tuple[str, ...]) -> dict[str, float]:
    amounts = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            amount = float(value)
        except ValueError:
            amount = math.nan
        if not sep or not math.isfinite(amount):
            raise click.BadParameter(f"{pair!r} is not NAME=AMOUNT", param_hint="--resource")
        amounts[name] = amount
    return amounts


@functions.command("create")
@click.argument("name")
@click.option(
    "--code",
    required=True,
    help="A .py file, a directory (package or modules), or a .wasm/.wat file.",
)
@click.option(
    "--handler", default="handler", show_default=True, help="'function' or 'module.function'."
)
@click.option("--runtime", default="python", show_default=True)
@click.option("--memory", "memory_mb", type=int, help="MB, 128-10240 (default 128).")
@click.option("--timeout", "timeout_s", type=int, help="Seconds, 1-900 (default 30).")
@click.option("--concurrency", type=int, help="Most invocations at once (default 10).")
@click.option(
    "--env", "env", multiple=True, help="NAME=VALUE (repeatable; values are kept secret)."
)
@click.option("--gas-limit", type=int, help="WASM functions: gas budget per invocation.")
@click.option(
    "--cold-start-optimization",
    is_flag=True,
    help="Fork instances from a zygote with the module loaded.",
)
def functions_create(
    name: str,
    code: str,
    handler: str,
    runtime: str,
    memory_mb: int | None,
    timeout_s: int | None,
    concurrency: int | None,
    env: tuple[str, ...],
    cold_start_optimization: bool,
    gas_limit: int | None,
) -> None:
    """Register a function (its code is copied into the platform's store)."""
    with _platform() as p:
        f = p.serverless.create_function(
            name,
            runtime,
            handler,
            code,
            memory_mb=memory_mb,
            timeout_s=timeout_s,
            concurrency=concurrency,
            env=_parse_env(env),
            cold_start_optimization=cold_start_optimization,
            gas_limit=gas_limit,
        )
        console.print(f"created {f.name} ({f.id}), code {f.code_hash[:12]}")


@functions.command("deploy")
@click.argument("name")
def functions_deploy(name: str) -> None:
    """Snapshot the function's current source and mark it deployed."""
    with _platform() as p:
        f = p.serverless.deploy_function(name)
        console.print(f"deployed {f.name} version {f.version} (code {f.code_hash[:12]})")


@functions.command("set")
@click.argument("name")
@click.option("--memory", "memory_mb", type=int, help="MB, 128-10240.")
@click.option("--timeout", "timeout_s", type=int, help="Seconds, 1-900.")
@click.option("--concurrency", type=int)
@click.option("--env", "env", multiple=True, help="NAME=VALUE (repeatable).")
@click.option("--prewarm", type=int, help="Idle instances to keep ready.")
@click.option("--cold-start-optimization/--no-cold-start-optimization", default=None)
@click.option("--num-cpus", type=float, help="CPUs each instance asks a Ray cluster for.")
@click.option(
    "--num-gpus", type=float, help="GPUs per instance on Ray (a fraction below 1 shares one)."
)
@click.option(
    "--resource",
    "custom",
    multiple=True,
    help="NAME=AMOUNT: a custom Ray node resource (repeatable).",
)
def functions_set(
    name: str,
    memory_mb: int | None,
    timeout_s: int | None,
    concurrency: int | None,
    env: tuple[str, ...],
    prewarm: int | None,
    cold_start_optimization: bool | None,
    num_cpus: float | None,
    num_gpus: float | None,
    custom: tuple[str, ...],
) -> None:
    """Change a function's settings (a running platform applies them within a second)."""
    with _platform() as p:
        s = p.serverless
        s.get_function(name)
        changes: dict[str, Any] = {}
        if memory_mb is not None:
            changes["memory_mb"] = memory_mb
        if timeout_s is not None:
            changes["timeout_s"] = timeout_s
        if concurrency is not None:
            changes["concurrency"] = concurrency
        if env:
            changes["env"] = _parse_env(env)
        if prewarm is not None:
            changes["prewarm_instances"] = prewarm
        if cold_start_optimization is not None:
            changes["cold_start_optimization"] = cold_start_optimization
        resources: dict[str, Any] = {}
        if num_cpus is not None:
            resources["num_cpus"] = num_cpus
        if num_gpus is not None:
            resources["num_gpus"] = num_gpus
        if custom:
            resources["custom"] = _parse_amounts(custom)
        if resources:
            changes["resources"] = resources
        try:  # every value is checked before any is applied; saved once
            info = s.update_function(name, changes)
        except ConstellationError as exc:
            raise click.ClickException(str(exc)) from None
        console.print(repr(info))


@functions.command("invoke")
@click.argument("name")
@click.option("--data", "-d", default="null", help="The event, as JSON.")
@click.option("--async", "is_async", is_flag=True, help="Queue it; a running platform executes it.")
@click.option("--timeout", type=int, help="Milliseconds.")
def functions_invoke(name: str, data: str, is_async: bool, timeout: int | None) -> None:
    """Invoke a function and print its result as JSON."""
    try:
        event = json.loads(data)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--data") from None
    with _platform() as p:
        if is_async:
            request_id = p.serverless.invoke_async(name, event)
            console.print(
                f"queued {request_id} (a running platform, `constellation run`, executes it)"
            )
            return
        result = p.serverless.invoke_sync(name, event, timeout)
    click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    if not result.ok:
        sys.exit(1)


@functions.command("list")
def functions_list() -> None:
    """Every function with its settings (environment values masked)."""
    with _platform() as p:
        rows = [
            [
                f.name,
                f.id,
                f.runtime,
                f.handler,
                f.memory_mb,
                f.timeout_s,
                f.concurrency,
                f.status,
                f.version,
                ", ".join(f"{k}=****" for k in f.env) or "-",
            ]
            for f in p.serverless.list_functions()
        ]
    _table(
        "functions",
        [
            "name",
            "id",
            "runtime",
            "handler",
            "MB",
            "timeout s",
            "concurrency",
            "status",
            "version",
            "env",
        ],
        rows,
    )


@functions.command("delete")
@click.argument("name")
def functions_delete(name: str) -> None:
    with _platform() as p:
        p.serverless.delete_function(name)
    console.print(f"deleted {name}")


@functions.command("metrics")
@click.argument("name")
def functions_metrics(name: str) -> None:
    """Invocation counts, durations and cold starts (from the ledger)."""
    with _platform() as p:
        m = p.serverless.get_function_metrics(name)
    _table(
        f"metrics of {name}",
        ["metric", "value"],
        [[k, round(v, 3) if isinstance(v, float) else v] for k, v in m.to_dict().items()],
    )


@functions.command("billing")
@click.argument("name")
@click.option("--hours", type=float, default=24.0, show_default=True, help="Bill the last N hours.")
@click.option("--all", "everything", is_flag=True, help="Bill all time.")
def functions_billing(name: str, hours: float, everything: bool) -> None:
    """Requests, billed compute time, GB-seconds and cost."""
    now = time.time()
    with _platform() as p:
        b = p.serverless.get_billing(
            name, 0.0 if everything else now - hours * 3600, now if not everything else math.inf
        )
    _table(
        f"billing of {name}",
        ["item", "value"],
        [
            ["invocations", b.invocation_count],
            ["compute time ms", b.compute_time_ms],
            ["GB-seconds", f"{b.memory_gb_seconds:.6f}"],
            ["request cost USD", f"{b.request_cost_usd:.8f}"],
            ["compute cost USD", f"{b.compute_cost_usd:.8f}"],
            ["estimated cost USD", f"{b.estimated_cost_usd:.8f}"],
        ],
    )


@functions.command("dlq")
@click.argument("name", required=False)
@click.option("--redrive", "redrive", help="Queue this dead invocation again.")
def functions_dlq(name: str | None, redrive: str | None) -> None:
    """Dead-lettered async invocations (failed after every retry)."""
    with _platform() as p:
        if redrive:
            inv = p.serverless.redrive(redrive)
            console.print(f"requeued {inv.request_id}")
            return
        rows = [
            [d.request_id, d.function_name, d.attempts, _when(d.updated_at), d.error]
            for d in p.serverless.list_dead_letters(name)
        ]
    _table("dead letters", ["request id", "function", "attempts", "last try (UTC)", "error"], rows)


@functions.command("logs")
@click.argument("name")
@click.option("--limit", default=20, show_default=True)
def functions_logs(name: str, limit: int) -> None:
    """What the handler printed, per invocation."""
    with _platform() as p:
        entries = p.serverless.get_logs(name, limit)
    for entry in entries:
        console.print(f"[bold]{_when(entry['started_at'])} {entry['request_id']}[/bold]")
        click.echo(entry["logs"].rstrip("\n"))


@functions.command("scaling")
@click.argument("name")
@click.option("--limit", default=20, show_default=True)
def functions_scaling(name: str, limit: int) -> None:
    """The autoscaler's recent decisions, with the inputs that decided them."""
    with _platform() as p:
        rows = p.serverless.get_scaling_decisions(name, limit)
    _table(
        f"scaling of {name}",
        ["at (UTC)", "current", "desired", "stable", "panic", "reason"],
        [
            [
                _when(r["at"]),
                r["current"],
                r["desired"],
                f"{r['stable_concurrency']:.2f}",
                f"{r['panic_concurrency']:.2f}",
                r["reason"],
            ]
            for r in rows
        ],
    )


@functions.command("invocation")
@click.argument("request_id")
def functions_invocation(request_id: str) -> None:
    """The state and result of one invocation."""
    with _platform() as p:
        inv = p.serverless.get_invocation(request_id)
    click.echo(json.dumps(inv.to_dict(), indent=2, default=str))


# -- instances -------------------------------------------------------------------------
@main.group()
def instances() -> None:
    """Instances of a running platform (`constellation run`)."""


@instances.command("list")
def instances_list() -> None:
    with _platform() as p:
        rows = p.control.published()
    if not rows:
        console.print(
            "no running platform has published instances (start one with `constellation run`)"
        )
        return
    _table(
        "instances",
        ["id", "kind", "of", "status", "pid", "uptime s", "restarts"],
        [
            [
                r["id"],
                r["kind"],
                r["owner"],
                r["status"],
                r["pid"],
                f"{r['uptime_s']:.0f}",
                r["restarts"],
            ]
            for r in rows
        ],
    )


@instances.command("restart")
@click.argument("instance_id")
def instances_restart(instance_id: str) -> None:
    with _platform() as p:
        request = p.control.request("restart_instance", instance_id)
        answer = p.control.wait_answer(request, timeout=10.0)
    if answer is None:
        raise click.ClickException(
            "no running platform answered within 10 s (is `constellation run` up?)"
        )
    if answer.startswith("error"):
        raise click.ClickException(answer)
    console.print(f"{instance_id}: {answer}")


if __name__ == "__main__":
    main()

__all__ = ["main"]
