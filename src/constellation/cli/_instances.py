"""``constellation instances ...``: the instances a running platform publishes."""

from __future__ import annotations

import click

from ._common import console, platform_for_command, table

__all__ = ["instances"]


@click.group()
def instances() -> None:
    """Instances of a running platform (`constellation run`)."""


@instances.command("list")
def instances_list() -> None:
    with platform_for_command() as p:
        rows = p.control.published()
    if not rows:
        console.print(
            "no running platform has published instances (start one with `constellation run`)"
        )
        return
    table(
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
    with platform_for_command() as p:
        request = p.control.request("restart_instance", instance_id)
        answer = p.control.wait_answer(request, timeout=10.0)
    if answer is None:
        raise click.ClickException(
            "no running platform answered within 10 s (is `constellation run` up?)"
        )
    if answer.startswith("error"):
        raise click.ClickException(answer)
    console.print(f"{instance_id}: {answer}")
