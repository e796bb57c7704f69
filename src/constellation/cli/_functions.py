"""``constellation functions ...``: create, deploy, invoke and inspect functions."""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any

import click

from ..errors import ConstellationError
from ._common import console, platform_for_command, table, when

__all__ = ["functions"]


@click.group()
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
    with platform_for_command() as p:
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
    with platform_for_command() as p:
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
    with platform_for_command() as p:
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
    with platform_for_command() as p:
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
    with platform_for_command() as p:
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
    table(
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
    with platform_for_command() as p:
        p.serverless.delete_function(name)
    console.print(f"deleted {name}")


@functions.command("metrics")
@click.argument("name")
def functions_metrics(name: str) -> None:
    """Invocation counts, durations and cold starts (from the ledger)."""
    with platform_for_command() as p:
        m = p.serverless.get_function_metrics(name)
    table(
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
    with platform_for_command() as p:
        b = p.serverless.get_billing(
            name, 0.0 if everything else now - hours * 3600, now if not everything else math.inf
        )
    table(
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
    with platform_for_command() as p:
        if redrive:
            inv = p.serverless.redrive(redrive)
            console.print(f"requeued {inv.request_id}")
            return
        rows = [
            [d.request_id, d.function_name, d.attempts, when(d.updated_at), d.error]
            for d in p.serverless.list_dead_letters(name)
        ]
    table("dead letters", ["request id", "function", "attempts", "last try (UTC)", "error"], rows)


@functions.command("logs")
@click.argument("name")
@click.option("--limit", default=20, show_default=True)
def functions_logs(name: str, limit: int) -> None:
    """What the handler printed, per invocation."""
    with platform_for_command() as p:
        entries = p.serverless.get_logs(name, limit)
    for entry in entries:
        console.print(f"[bold]{when(entry['started_at'])} {entry['request_id']}[/bold]")
        click.echo(entry["logs"].rstrip("\n"))


@functions.command("scaling")
@click.argument("name")
@click.option("--limit", default=20, show_default=True)
def functions_scaling(name: str, limit: int) -> None:
    """The autoscaler's recent decisions, with the inputs that decided them."""
    with platform_for_command() as p:
        rows = p.serverless.get_scaling_decisions(name, limit)
    table(
        f"scaling of {name}",
        ["at (UTC)", "current", "desired", "stable", "panic", "reason"],
        [
            [
                when(r["at"]),
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
    with platform_for_command() as p:
        inv = p.serverless.get_invocation(request_id)
    click.echo(json.dumps(inv.to_dict(), indent=2, default=str))
