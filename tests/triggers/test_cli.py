"""``constellation triggers ...`` (the click group the lead mounts under ``constellation``)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from constellation.config import load_settings
from constellation.store import Store
from constellation.triggers import start_trigger
from constellation.triggers._cli import cli

from .._support import wait_until
from .conftest import Recorder


def test_publish_then_peek(tmp_home: Path) -> None:
    runner = CliRunner()
    published = runner.invoke(cli, ["publish", "orders", '{"order_id": 1}'])
    assert published.exit_code == 0, published.output
    peeked = runner.invoke(cli, ["peek", "orders"])
    assert peeked.exit_code == 0
    [line] = peeked.output.splitlines()
    message = json.loads(line)
    assert message["id"] == published.output.strip() and message["body"] == {"order_id": 1}
    as_array = json.loads(runner.invoke(cli, ["peek", "orders", "--json"]).output)
    assert as_array == [message]


def test_emit_reaches_a_subscriber_in_the_same_store(tmp_home: Path) -> None:
    recorder = Recorder()
    with (
        Store(load_settings().db_path) as store,
        start_trigger({"type": "event", "event_type": "order.*"}, recorder, store=store),
    ):
        result = CliRunner().invoke(cli, ["emit", "order.created", '{"id": 2}', "--source", "/cli"])
        assert result.output.strip() == "1"
        wait_until(lambda: recorder.events)
    assert recorder.events[0]["source"] == "/cli"


def test_check_prints_the_normalised_spec_or_the_error(tmp_home: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["check", '{"type": "queue", "queue": "q"}'])
    assert ok.exit_code == 0 and json.loads(ok.output)["dead_letter"] == "q.dlq"
    bad = runner.invoke(cli, ["check", '{"type": "queue", "queue": "q", "batch_size": 0}'])
    assert bad.exit_code == 1 and "batch_size" in bad.output
    not_json = runner.invoke(cli, ["publish", "q", "{nope"])
    assert not_json.exit_code == 2 and "MESSAGE is not JSON" in not_json.output
