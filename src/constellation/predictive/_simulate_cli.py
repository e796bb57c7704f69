"""``constellation simulate --trace FILE --policy all --json``: replay a trace.

Replays per-minute invocation counts through the scaling policies side by side (see
:mod:`._replay`) and prints, per policy, cold starts (per-function percentage: median and
75th percentile), idle and total instance-seconds, delayed invocations and the replay's
own speed; ``--json`` prints the report as JSON.
"""

from __future__ import annotations

import json

import click

from ._errors import PredictiveValidationError
from ._replay import POLICIES, ReplayConfig, simulate
from ._trace import read_traces

__all__ = ["cli"]


@click.command("simulate")
@click.option(
    "--trace",
    "traces",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="CSV: minute,function,invocations[,duration_ms] or the Azure 2019 wide form "
    "(HashFunction,...,1,...,1440). Repeat for several files, replayed one after another.",
)
@click.option(
    "--policy",
    "policies",
    multiple=True,
    default=("all",),
    type=click.Choice(["all", *POLICIES]),
    help="Policies to replay (repeat for several; default all).",
)
@click.option(
    "--keepalive", type=int, default=10, show_default=True, help="fixed-keepalive's minutes."
)
@click.option(
    "--forecast-model",
    default="mstl",
    show_default=True,
    help="The predictive policy's model (a name from constellation.predictive.MODELS).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--per-function",
    is_flag=True,
    help="With --json: each policy's cold-start percentage per function too.",
)
def cli(
    traces: tuple[str, ...],
    policies: tuple[str, ...],
    keepalive: int,
    forecast_model: str,
    as_json: bool,
    per_function: bool,
) -> None:
    """Replay a per-minute invocation trace through the scaling policies."""
    try:
        trace = read_traces(list(traces))
        config = ReplayConfig(keepalive_minutes=keepalive, forecast_model=forecast_model)
        names = "all" if "all" in policies else list(policies)
        report = simulate(trace, names, config)
    except PredictiveValidationError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.as_dict(per_function), indent=2))
        return
    click.echo(f"{len(report.functions)} functions, {report.minutes} minutes")
    click.echo(
        f"{'policy':<18}{'cold% p50':>10}{'cold% p75':>10}{'cold starts':>13}"
        f"{'idle inst-s':>15}{'inst-s':>15}{'delayed':>10}{'min/s':>10}"
    )
    for name, r in report.policies.items():
        click.echo(
            f"{name:<18}{r.cold_start_pct_p50:>10.2f}{r.cold_start_pct_p75:>10.2f}"
            f"{r.cold_starts:>13}{r.idle_instance_seconds:>15.0f}{r.instance_seconds:>15.0f}"
            f"{r.delayed_invocations:>10}{r.minutes_per_second:>10.0f}"
        )
