"""``constellation triggers ...``: publish to a queue, emit an event, peek at a queue or its
dead letters, and check a trigger spec.

The sqlite queue and event subscriptions live in the platform's store
(``$CONSTELLATION_HOME``), the same file a running server uses, so a message published
here is picked up by that server's triggers within their poll interval.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..config import load_settings
from ..errors import ConstellationError
from ..store import Store
from . import emit, peek, publish, validate_trigger

__all__ = ["cli"]

cli = click.Group("triggers", help="Queues, event streams and custom events.")
_broker = click.option(
    "--broker",
    type=click.Choice(["sqlite", "redis", "nats"]),
    default="sqlite",
    show_default=True,
    help="Where the queue lives.",
)
_url = click.option("--url", default=None, help="Broker URL (default: localhost, or the env).")


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{what} is not JSON: {exc}") from None


def _store(broker: str) -> Store | None:
    return Store(load_settings().db_path) if broker == "sqlite" else None


def _fail(exc: ConstellationError) -> None:
    raise click.ClickException(str(exc))


@cli.command("publish")
@click.argument("queue")
@click.argument("message")
@_broker
@_url
def publish_cmd(queue: str, message: str, broker: str, url: str | None) -> None:
    """Put MESSAGE (JSON) on QUEUE; prints the message id."""
    body = _json(message, "MESSAGE")
    store = _store(broker)
    try:
        click.echo(publish(queue, body, broker=broker, url=url, store=store))
    except ConstellationError as exc:
        _fail(exc)
    finally:
        if store is not None:
            store.close()


@cli.command("emit")
@click.argument("event_type")
@click.argument("payload", default="null")
@click.option("--source", default="constellation", show_default=True)
def emit_cmd(event_type: str, payload: str, source: str) -> None:
    """Emit a custom event of EVENT_TYPE with PAYLOAD (JSON); prints how many subscribers."""
    data = _json(payload, "PAYLOAD")
    with Store(load_settings().db_path) as store:
        try:
            click.echo(emit(event_type, data, source=source, store=store))
        except ConstellationError as exc:
            _fail(exc)


@cli.command("peek")
@click.argument("queue")
@_broker
@_url
@click.option("--limit", type=int, default=20, show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["lines", "json"]),
    default="lines",
    show_default=True,
    help="lines: one JSON object a line (JSON Lines); json: one JSON array.",
)
@click.option("--json", "as_json", is_flag=True, help="Short for -o json.")
def peek_cmd(
    queue: str, broker: str, url: str | None, limit: int, output: str, as_json: bool
) -> None:
    """Show the messages waiting in QUEUE (e.g. ``orders.dlq``), one JSON object a line."""
    store = _store(broker)
    try:
        messages = peek(queue, broker=broker, url=url, store=store, limit=limit)
        if as_json or output == "json":
            click.echo(json.dumps(list(messages), indent=2, default=repr))
            return
        for message in messages:
            click.echo(json.dumps(message, default=repr))
    except ConstellationError as exc:
        _fail(exc)
    finally:
        if store is not None:
            store.close()


@cli.command("check")
@click.argument("spec")
def check_cmd(spec: str) -> None:
    """Validate a queue/stream/event trigger SPEC (JSON); prints it with defaults filled in."""
    try:
        click.echo(json.dumps(validate_trigger(_json(spec, "SPEC")), indent=2))
    except ConstellationError as exc:
        _fail(exc)
