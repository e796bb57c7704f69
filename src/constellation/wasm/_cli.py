"""``constellation wasm ...``: runtimes, inspect, run (a click group the CLI mounts)."""

from __future__ import annotations

import json
import sys

import click

from ._errors import WasmError, WasmTrap
from ._limits import parse_size
from ._runtimes import get_runtimes

__all__ = ["cli"]

cli = click.Group("wasm", help="Run WebAssembly modules sandboxed.")


@cli.command("runtimes")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def runtimes_cmd(as_json: bool) -> None:
    """List the runtimes and whether this machine can run them."""
    infos = get_runtimes()
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    for i in infos:
        state = f"available {i.version}".rstrip() if i.available else "unavailable"
        click.echo(f"{i.name:<9} {state:<20} {i.description if i.available else i.reason}")


@cli.command("inspect")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def inspect_cmd(path: str) -> None:
    """Print a module's id, exports and imports as JSON."""
    from ._host import WasmHost

    with WasmHost(cache_dir=None) as host:
        try:
            module = host.load_module(path, precompile=False)
        except WasmError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(json.dumps(module.to_dict(), indent=2))


def _number(text: str, vtype: str) -> int | float:
    try:
        return int(text, 0) if vtype in ("i32", "i64") else float(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a {vtype}") from None


@cli.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--invoke", "function", help="Call this export with ARGS (numbers).")
@click.option("--runtime", default="wasmtime", show_default=True)
@click.option("--gas", type=int, help="Gas limit (fuel).")
@click.option("--max-memory", help="Linear memory limit, e.g. 64MiB.")
@click.option("--timeout-ms", type=float, help="Wall-time limit per call.")
@click.option("--dir", "dirs", multiple=True, help="Preopen GUEST=HOST[:rw] (WASI).")
@click.option("--env", "envs", multiple=True, help="NAME=VALUE for the guest (WASI).")
def run_cmd(
    path: str,
    args: tuple[str, ...],
    function: str | None,
    runtime: str,
    gas: int | None,
    max_memory: str | None,
    timeout_ms: float | None,
    dirs: tuple[str, ...],
    envs: tuple[str, ...],
) -> None:
    """Call an exported function, or run a WASI command (stdin/stdout pass through)."""
    from ._host import WasmHost

    limits: dict[str, object] = {}
    try:
        if max_memory:
            limits["max_memory"] = parse_size("max_memory", max_memory)
        if timeout_ms is not None:
            limits["timeout_ms"] = timeout_ms
        with WasmHost() as host:
            module = host.load_module(path)
            if function:
                info = module.function(function)
                if len(args) != len(info.params):
                    raise click.BadParameter(f"{function} takes {info.signature}")
                params = [_number(a, t) for a, t in zip(args, info.params, strict=True)]
                inst = host.create_instance(module.id, runtime, limits=limits, gas_limit=gas)
                for value in inst.call(function, params):
                    click.echo(value.value)
                if runtime != "wasm3" or gas is not None:
                    click.echo(f"gas used: {inst.gas_used}", err=True)
                return
            preopens = {}
            for spec in dirs:
                guest, _, host_dir = spec.partition("=")
                mode = "rw" if host_dir.endswith(":rw") else "ro"
                preopens[guest] = (host_dir.removesuffix(":rw"), mode)
            env = dict(e.partition("=")[::2] for e in envs)
            stdin = b"" if sys.stdin.isatty() else sys.stdin.buffer.read()
            res = host.run_wasi(module.id, argv=[path, *args], env=env, preopens=preopens,
                                stdin=stdin, limits=limits, gas_limit=gas)  # fmt: skip
            sys.stdout.buffer.write(res.stdout)
            sys.stderr.buffer.write(res.stderr)
            sys.exit(res.exit_code)
    except WasmTrap as trap:
        raise click.ClickException(str(trap)) from None
    except WasmError as exc:
        raise click.ClickException(str(exc)) from None
