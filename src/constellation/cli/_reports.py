"""``constellation functions stats|metrics|billing|dlq|logs|scaling|instances|invocation``:
what a function did and costs (the CLI adds them to the ``functions`` group)."""

from __future__ import annotations

import time

import click

from ._common import client_for_command, complete_function_names, when
from ._output import Column, output_options, print_json, show_record, show_rows

__all__ = ["REPORT_COMMANDS"]

_name = click.argument("name", shell_complete=complete_function_names)


@click.command("stats")
@output_options
def functions_stats(output: str) -> None:
    """Platform-wide counts: functions, instances, invocations."""
    with client_for_command() as client:
        found = client.stats()
    show_record(found, output, "platform statistics")


@click.command("metrics")
@_name
@output_options
def functions_metrics(name: str, output: str) -> None:
    """Invocation counts, durations and cold starts (from the ledger)."""
    with client_for_command() as client:
        m = client.metrics(name)
    show_record(m, output, f"metrics of {name}")


@click.command("billing")
@_name
@click.option("--hours", type=float, default=24.0, show_default=True, help="Bill the last N hours.")
@click.option("--all", "everything", is_flag=True, help="Bill all time.")
@output_options
def functions_billing(name: str, hours: float, everything: bool, output: str) -> None:
    """Requests, billed compute time, GB-seconds and cost."""
    now = time.time()
    with client_for_command() as client:
        b = client.billing(name, 0.0 if everything else now - hours * 3600, None)
    if output == "json":
        print_json(b)
        return
    bill = {
        "invocations": b["invocation_count"],
        "compute time ms": b["compute_time_ms"],
        "GB-seconds": f"{b['memory_gb_seconds']:.6f}",
        "request cost USD": f"{b['request_cost_usd']:.8f}",
        "compute cost USD": f"{b['compute_cost_usd']:.8f}",
        "estimated cost USD": f"{b['estimated_cost_usd']:.8f}",
    }
    show_record(bill, output, f"billing of {name}")


_INVOCATION_COLUMNS = [
    Column("request id", "request_id", identifier=True),
    Column("function", "function_name", identifier=True),
    Column("attempts", "attempts"),
    Column("last try (UTC)", lambda d: when(d.get("updated_at"))),
    Column("error", "error"),
]


@click.command("dlq")
@click.argument("name", required=False, shell_complete=complete_function_names)
@click.option("--redrive", "redrive", help="Queue this dead invocation again.")
@output_options
def functions_dlq(name: str | None, redrive: str | None, output: str) -> None:
    """Dead-lettered async invocations (failed after every retry)."""
    with client_for_command() as client:
        if redrive:
            inv = client.redrive(redrive)
            click.echo(f"requeued {inv['request_id']}")
            return
        found = client.dead_letters(name)
    show_rows(found, _INVOCATION_COLUMNS, output, "dead letters")


@click.command("logs")
@_name
@click.option("--limit", default=20, show_default=True)
@output_options
def functions_logs(name: str, limit: int, output: str) -> None:
    """What the handler printed, per invocation."""
    with client_for_command() as client:
        entries = client.logs(name, limit)
    if output == "json":
        print_json(entries)
        return
    for entry in entries:
        click.echo(f"{when(entry['started_at'])} {entry['request_id']}")
        click.echo(entry["logs"].rstrip("\n"))


@click.command("scaling")
@_name
@click.option("--limit", default=20, show_default=True)
@output_options
def functions_scaling(name: str, limit: int, output: str) -> None:
    """The autoscaler's recent decisions, with the inputs that decided them."""
    with client_for_command() as client:
        rows = client.scaling(name, limit)
    columns = [
        Column("at (UTC)", lambda r: when(r["at"])),
        Column("current", "current"),
        Column("desired", "desired"),
        Column("stable", lambda r: f"{r['stable_concurrency']:.2f}"),
        Column("panic", lambda r: f"{r['panic_concurrency']:.2f}"),
        Column("reason", "reason"),
    ]
    show_rows(rows, columns, output, f"scaling of {name}")


@click.command("instances")
@_name
@output_options
def functions_instances(name: str, output: str) -> None:
    """The function's instances on a running platform."""
    with client_for_command() as client:
        rows = client.instances(name)
    columns = [
        Column("id", "id", identifier=True),
        Column("status", "status"),
        Column("pid", "pid"),
        Column("uptime s", lambda r: f"{r['uptime_s']:.0f}"),
        Column("invocations", "invocations", wide=True),
        Column("node", "node", wide=True),
    ]
    show_rows(rows, columns, output, f"instances of {name}")


@click.command("invocation")
@click.argument("request_id")
@output_options
def functions_invocation(request_id: str, output: str) -> None:
    """The state and result of one invocation."""
    with client_for_command() as client:
        inv = client.get_invocation(request_id)
    show_record(inv, output, f"invocation {request_id}")


REPORT_COMMANDS = [
    functions_stats,
    functions_metrics,
    functions_billing,
    functions_dlq,
    functions_logs,
    functions_scaling,
    functions_instances,
    functions_invocation,
]
