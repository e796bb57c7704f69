"""``constellation anomaly list|resolve``: the platform's detected anomalies, locally or
over ``--server`` (added to the anomaly capability's own group, which has ``scan``)."""

from __future__ import annotations

import click

from ._common import client_for_command, when
from ._output import Column, output_options, show_rows

__all__ = ["EXTRA_ANOMALY_COMMANDS"]


@click.command("list")
@click.option("--all", "everything", is_flag=True, help="The resolved ones too.")
@output_options
def anomaly_list(everything: bool, output: str) -> None:
    """Open anomalies (with --all: the history too)."""
    with client_for_command() as client:
        rows = client.anomalies(everything)
    columns = [
        Column("id", "id", identifier=True),
        Column("metric", "metric_name"),
        Column("severity", "severity"),
        Column("detected (UTC)", lambda a: when(a.get("detected_at"))),
        Column("value", "detected_value"),
        Column("expected", "expected_value"),
        Column("score", "score", wide=True),
        Column("resolved (UTC)", lambda a: when(a.get("resolved_at")), wide=True),
        Column("recommendation", "recommendation", wide=True),
    ]
    show_rows(rows, columns, output, "anomalies")


@click.command("resolve")
@click.argument("anomaly_id")
def anomaly_resolve(anomaly_id: str) -> None:
    """Mark an anomaly resolved."""
    with client_for_command() as client:
        client.resolve_anomaly(anomaly_id)
    click.echo(f"resolved {anomaly_id}")


EXTRA_ANOMALY_COMMANDS = [anomaly_list, anomaly_resolve]
