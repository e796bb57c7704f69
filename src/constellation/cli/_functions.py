"""``constellation functions ...``: create, deploy, invoke and inspect functions, on the
local store or, with ``--server``, on a server through its REST API (one
:class:`~._client.Client` either way)."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import click

from ._common import client_for_command, complete_function_names, when
from ._output import Column, output_options, print_json, show_record, show_rows
from ._progress import progress_bar
from ._traceback import user_traceback

__all__ = ["functions"]

_name = click.argument("name", shell_complete=complete_function_names)


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


def _trigger_specs(
    http: tuple[str, ...], schedule: tuple[str, ...], queue: tuple[str, ...]
) -> list[dict[str, Any]]:
    return [
        *({"type": "http", "path": p} for p in http),
        *({"type": "timer", "schedule": s} for s in schedule),
        *({"type": "queue", "queue": q} for q in queue),
    ]


def _trigger_options(command: Any) -> Any:
    for option in (
        click.option("--queue", multiple=True, help="Run on messages of this queue (repeatable)."),
        click.option(
            "--schedule",
            multiple=True,
            help="Run on a timer: a cron expression, e.g. '*/5 * * * *' (repeatable).",
        ),
        click.option("--http", multiple=True, help="Serve on this HTTP path (repeatable)."),
    ):
        command = option(command)
    return command


def _describe(code: Path) -> tuple[int, int]:
    files = [p for p in code.rglob("*") if p.is_file()] if code.is_dir() else [code]
    return len(files), sum(p.stat().st_size for p in files)


@functions.command("create")
@click.argument("name")
@click.option(
    "--code",
    required=True,
    type=click.Path(exists=True, path_type=Path),
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
@_trigger_options
@output_options
def functions_create(
    name: str,
    code: Path,
    handler: str,
    runtime: str,
    memory_mb: int | None,
    timeout_s: int | None,
    concurrency: int | None,
    env: tuple[str, ...],
    cold_start_optimization: bool,
    gas_limit: int | None,
    http: tuple[str, ...],
    schedule: tuple[str, ...],
    queue: tuple[str, ...],
    output: str,
) -> None:
    """Register a function (its code is copied into the platform's store, or uploaded to
    the server), with the triggers given."""
    options: dict[str, Any] = {"runtime": runtime, "handler": handler}
    for key, value in (
        ("memory_mb", memory_mb),
        ("timeout_s", timeout_s),
        ("concurrency", concurrency),
        ("gas_limit", gas_limit),
    ):
        if value is not None:
            options[key] = value
    if env:
        options["env"] = _parse_env(env)
    if cold_start_optimization:
        options["cold_start_optimization"] = True
    triggers = _trigger_specs(http, schedule, queue)
    count, size = _describe(code)
    with (
        client_for_command() as client,
        progress_bar(f"copying {count} files ({size / 2**20:.1f} MB)", 0) as update,
    ):
        f = client.create_function(name, code, options, triggers, progress=update)
    if output == "json":
        print_json(f)
        return
    click.echo(f"created {f['name']} ({f['id']}), code {f['code_hash'][:12]}")
    for t in f.get("triggers", []):
        click.echo(f"  trigger {t['id']}: {_trigger_summary(t)}")


def _trigger_summary(t: dict[str, Any]) -> str:
    spec = t.get("spec", t)
    kind = t.get("type") or spec.get("type")
    detail = spec.get("path") or spec.get("schedule") or spec.get("queue") or spec.get("event")
    return f"{kind} {detail}" if detail else str(kind)


@functions.command("deploy")
@_name
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=None,
    help="Wait up to SECONDS for its prewarmed instances (at least one) to be up.",
)
@output_options
def functions_deploy(name: str, wait: float | None, output: str) -> None:
    """Snapshot the function's current source and mark it deployed."""
    with client_for_command() as client:
        f = client.deploy_function(name)
        if wait is not None:
            _wait_for_instances(client, name, max(int(f.get("prewarm_instances") or 0), 1), wait)
    if output == "json":
        print_json(f)
        return
    click.echo(f"deployed {f['name']} version {f['version']} (code {f['code_hash'][:12]})")


def _wait_for_instances(client: Any, name: str, wanted: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with progress_bar(f"waiting for {wanted} instance(s) of {name}", wanted) as update:
        while True:
            up = len(client.instances(name))
            update(min(up, wanted), wanted)
            if up >= wanted:
                return
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"{name}: {up} of {wanted} instance(s) up after {timeout:g} s (is a "
                    "platform running: `constellation serve` or `constellation run`?)"
                )
            time.sleep(0.2)


@functions.command("set")
@_name
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
@output_options
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
    output: str,
) -> None:
    """Change a function's settings (a running platform applies them within a second);
    every value is checked before any is applied. Prints the settings."""
    changes: dict[str, Any] = {}
    for key, value in (
        ("memory_mb", memory_mb),
        ("timeout_s", timeout_s),
        ("concurrency", concurrency),
        ("prewarm_instances", prewarm),
        ("cold_start_optimization", cold_start_optimization),
    ):
        if value is not None:
            changes[key] = value
    if env:
        changes["env"] = _parse_env(env)
    resources: dict[str, Any] = {}
    if num_cpus is not None:
        resources["num_cpus"] = num_cpus
    if num_gpus is not None:
        resources["num_gpus"] = num_gpus
    if custom:
        resources["custom"] = _parse_amounts(custom)
    if resources:
        changes["resources"] = resources
    with client_for_command() as client:
        f = client.update_function(name, changes) if changes else client.get_function(name)
    _show_function(f, output)


def _show_function(f: dict[str, Any], output: str) -> None:
    if output == "json":
        print_json(f)
        return
    flat = {k: v for k, v in f.items() if k not in ("env", "triggers")}
    flat["env"] = ", ".join(f"{k}=****" for k in f.get("env") or {}) or "-"
    for key in ("scaling_policy", "resources", "gpu"):
        if isinstance(f.get(key), dict):
            flat[key] = ", ".join(f"{k}={v}" for k, v in f[key].items()) or "-"
    flat["triggers"] = "; ".join(_trigger_summary(t) for t in f.get("triggers", [])) or "-"
    show_record(flat, output, f"function {f['name']}")


@functions.command("get")
@_name
@output_options
def functions_get(name: str, output: str) -> None:
    """One function's settings and triggers (environment values masked)."""
    with client_for_command() as client:
        f = client.get_function(name)
    _show_function(f, output)


@functions.command("invoke")
@_name
@click.option("--data", "-d", default="null", help="The event, as JSON.")
@click.option("--async", "is_async", is_flag=True, help="Queue it; a running platform executes it.")
@click.option("--timeout", type=int, help="Milliseconds.")
def functions_invoke(name: str, data: str, is_async: bool, timeout: int | None) -> None:
    """Invoke a function and print its result as JSON; a failed handler's traceback goes
    to stderr, pointing at your own file and line. Exits 1 when the invocation failed."""
    try:
        event = json.loads(data)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--data") from None
    with client_for_command() as client:
        if is_async:
            request_id = client.invoke_async(name, event)
            click.echo(f"queued {request_id} (a running platform executes it)")
            return
        result = client.invoke(name, event, timeout)
        trace = result.pop("traceback", "") or ""
        if trace:
            trace = user_traceback(trace, client.get_function(name))
    click.echo(json.dumps(result, indent=2, default=str))
    if trace:
        click.echo(trace, err=True, nl=False)
    if result.get("status") != "success":
        sys.exit(1)


_FUNCTION_COLUMNS = [
    Column("name", "name", identifier=True),
    Column("id", "id", identifier=True),
    Column("runtime", "runtime"),
    Column("handler", "handler"),
    Column("MB", "memory_mb"),
    Column("timeout s", "timeout_s"),
    Column("concurrency", "concurrency", wide=True),
    Column("status", "status"),
    Column("version", "version"),
    Column("triggers", lambda f: "; ".join(_trigger_summary(t) for t in f.get("triggers", []))),
    Column("env", lambda f: ", ".join(f"{k}=****" for k in f.get("env") or {}), wide=True),
    Column("code", lambda f: (f.get("code_hash") or "")[:12], wide=True),
    Column("created (UTC)", lambda f: when(f.get("created_at")), wide=True),
]


@functions.command("list")
@output_options
def functions_list(output: str) -> None:
    """Every function with its settings (environment values masked)."""
    with client_for_command() as client:
        found = client.list_functions()
    show_rows(found, _FUNCTION_COLUMNS, output, "functions")


@functions.command("delete")
@_name
def functions_delete(name: str) -> None:
    """Delete a function and its triggers."""
    with client_for_command() as client:
        client.delete_function(name)
    click.echo(f"deleted {name}")


@functions.command("triggers")
@click.argument("name", required=False, shell_complete=complete_function_names)
@output_options
def functions_triggers(name: str | None, output: str) -> None:
    """Triggers: of NAME, or every function's."""
    with client_for_command() as client:
        rows = client.triggers(name)
    columns = [
        Column("id", "id", identifier=True),
        Column("function", "function_name", identifier=True),
        Column("trigger", _trigger_summary),
        Column("created (UTC)", lambda t: when(t.get("created_at")), wide=True),
    ]
    show_rows(rows, columns, output, "triggers")


@functions.command("add-trigger")
@_name
@_trigger_options
def functions_add_trigger(
    name: str, http: tuple[str, ...], schedule: tuple[str, ...], queue: tuple[str, ...]
) -> None:
    """Add triggers to a function: --http PATH, --schedule CRON, --queue NAME."""
    specs = _trigger_specs(http, schedule, queue)
    if not specs:
        raise click.UsageError("give at least one of --http, --schedule, --queue")
    with client_for_command() as client:
        for spec in specs:
            t = client.add_trigger(name, spec)
            click.echo(f"added trigger {t['id']}: {_trigger_summary(t)}")


@functions.command("remove-trigger")
@click.argument("trigger_id")
def functions_remove_trigger(trigger_id: str) -> None:
    """Remove a trigger by its id (see `functions triggers`)."""
    with client_for_command() as client:
        client.remove_trigger(trigger_id)
    click.echo(f"removed trigger {trigger_id}")
