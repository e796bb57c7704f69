"""How list, show and metrics commands print: ``-o table|wide|json`` (``--json`` for
short).

On a terminal a table is drawn with rich; when stdout is a pipe or a file it is plain
text in aligned columns, full width, with no cell ever cut, so ``constellation functions
list | grep NAME`` finds NAME and ``awk`` can read the columns. JSON is the REST API's
own shape, whatever the table shows.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

__all__ = ["FORMATS", "Column", "output_options", "print_json", "show_record", "show_rows"]

FORMATS = ("table", "wide", "json")


@dataclass(frozen=True)
class Column:
    """A table column: its header and how to get its cell from a row (a dict)."""

    header: str
    key: str | Callable[[dict[str, Any]], Any]
    wide: bool = False  # only with -o wide
    identifier: bool = False  # a name or id: never wrapped, never cut

    def cell(self, row: dict[str, Any]) -> str:
        value = self.key(row) if callable(self.key) else row.get(self.key)
        if value is None or value == "":
            return "-"
        if isinstance(value, float):
            return f"{value:.6g}"
        return str(value)


def output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds ``-o/--output`` and ``--json``; the command gets ``output`` only."""

    @functools.wraps(command)
    def wrapper(*args: Any, output: str, as_json: bool, **kwargs: Any) -> Any:
        return command(*args, output="json" if as_json else output, **kwargs)

    wrapper = click.option("--json", "as_json", is_flag=True, help="Short for -o json.")(wrapper)
    return click.option(
        "-o",
        "--output",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table; wide: every column; json: the API's JSON.",
    )(wrapper)


def _is_terminal() -> bool:
    return sys.stdout.isatty()


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _plain(headers: list[str], cells: list[list[str]]) -> None:
    """Aligned columns, nothing cut: what scripts and pipes read."""
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for line in [headers, *cells]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def show_rows(
    rows: Sequence[dict[str, Any]], columns: Sequence[Column], output: str, title: str
) -> None:
    """A list of records as a table, or as JSON."""
    if output == "json":
        print_json(list(rows))
        return
    shown = [c for c in columns if output == "wide" or not c.wide]
    headers = [c.header for c in shown]
    cells = [[c.cell(row) for c in shown] for row in rows]
    if not _is_terminal():
        _plain(headers, cells)
        return
    console = Console(file=sys.stdout)
    # the narrowest the table can be: identifiers whole, other columns their longest
    # header word; borders and padding take 3 per column, plus 1
    least = [
        max(len(v) for v in [h, *(r[i] for r in cells)])
        if c.identifier
        else len(max(h.split(), key=len))
        for i, (c, h) in enumerate(zip(shown, headers, strict=True))
    ]
    if sum(least) + 3 * len(least) + 1 > console.width:
        _plain(headers, cells)  # too narrow for the table: lines the terminal wraps
        return
    table = Table(title=title)
    for column, width in zip(shown, least, strict=True):
        # identifiers stay on one line; other long cells wrap onto more lines
        table.add_column(column.header, overflow="fold", no_wrap=column.identifier, min_width=width)
    for line in cells:
        table.add_row(*line)
    console.print(table)


def _when(ts: Any) -> Any:
    """Unix seconds as UTC time, for the *_at fields."""
    if not isinstance(ts, int | float) or isinstance(ts, bool) or ts <= 0:
        return ts
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def show_record(record: dict[str, Any], output: str, title: str) -> None:
    """One record (a function's metrics, a bill, ...) as field/value lines, or as JSON."""
    if output == "json":
        print_json(record)
        return
    rows = [
        {"field": k, "value": _when(v) if k.endswith("_at") else v}
        for k, v in record.items()
        if not isinstance(v, dict | list)
    ]
    show_rows(rows, [Column("field", "field"), Column("value", "value")], "table", title)
