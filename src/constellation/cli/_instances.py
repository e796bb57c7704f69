"""``constellation instances ...``: the instances a running platform publishes."""

from __future__ import annotations

import click

from ._common import platform_for_command, refuse_remote
from ._output import Column, output_options, show_rows

__all__ = ["instances"]


@click.group()
def instances() -> None:
    """Instances of a running platform (`constellation run` or `serve`) on this machine;
    over --server use `functions instances NAME`."""


@instances.command("list")
@output_options
def instances_list(output: str) -> None:
    """Every instance: deployment processes and function workers."""
    refuse_remote("`instances list`")
    with platform_for_command() as p:
        rows = p.control.published()
    if not rows and output != "json":
        click.echo(
            "no running platform has published instances (start one with `constellation run`)",
            err=True,
        )
        return
    columns = [
        Column("id", "id", identifier=True),
        Column("kind", "kind"),
        Column("of", "owner"),
        Column("status", "status"),
        Column("pid", "pid"),
        Column("uptime s", lambda r: f"{r['uptime_s']:.0f}"),
        Column("restarts", "restarts"),
    ]
    show_rows(rows, columns, output, "instances")


@instances.command("restart")
@click.argument("instance_id")
def instances_restart(instance_id: str) -> None:
    refuse_remote("`instances restart`")
    with platform_for_command() as p:
        request = p.control.request("restart_instance", instance_id)
        answer = p.control.wait_answer(request, timeout=10.0)
    if answer is None:
        raise click.ClickException(
            "no running platform answered within 10 s (is `constellation run` up?)"
        )
    if answer.startswith("error"):
        raise click.ClickException(answer)
    click.echo(f"{instance_id}: {answer}")
