"""Interleaved A/B of one benchmark script between two checkouts of the project.

Run: ``.venv/bin/python benchmarks/ab_compare.py --before ../before --after . \\
      --script serverless_bench.py --rounds 3 [--quick]``

Each checkout runs with its own interpreter (``CHECKOUT/.venv/bin/python``) and its own
copy of the script, the two sides swapping order every round (B A, A B, B A...), so a
machine that gets busier or quieter during the run moves both sides alike. Every numeric
figure of the scripts' JSON reports is paired by its path, and the median of after/before
over the rounds is printed with a distribution-free 95% interval of that median and the
sign test's two-sided p (as ``throughput_pairs.py`` does; with fewer than 6 rounds the
interval is the whole range). A ratio of 1.0 is no change; whether higher is better
depends on the figure (a latency, a throughput) and is for the reader.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _util import interleaved_pairs, median_interval, sign_test


def run_once(checkout: Path, script: str, extra: list[str]) -> dict[str, Any]:
    python = checkout / ".venv" / "bin" / "python"
    path = checkout / "benchmarks" / script
    done = subprocess.run(
        [str(python), str(path), *extra],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout[done.stdout.index("{") :])
    results: dict[str, Any] = report["results"]
    return results


def flatten(value: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves by their dotted path (list items by index)."""
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out[prefix] = float(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the checkout before")
    parser.add_argument("--after", type=Path, required=True, help="the checkout after")
    parser.add_argument("--script", required=True, help="a script in benchmarks/")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="pass --quick to the script")
    parser.add_argument("--out", type=Path, help="write the pairs and ratios here (JSON)")
    args = parser.parse_args()
    extra = ["--quick"] if args.quick else []
    pairs = interleaved_pairs(
        args.rounds,
        lambda: flatten(run_once(args.before.resolve(), args.script, extra)),
        lambda: flatten(run_once(args.after.resolve(), args.script, extra)),
        done=lambda i: print(f"round {i}/{args.rounds} done", file=sys.stderr),
    )
    keys = sorted(set(pairs[0][0]) & set(pairs[0][1]))
    table: dict[str, dict[str, float]] = {}
    for key in keys:
        ratios = [a[key] / b[key] for b, a in pairs if key in a and key in b and b[key]]
        if not ratios:
            continue
        low, high = median_interval(ratios)
        table[key] = {
            "before_median": statistics.median(b[key] for b, _ in pairs if key in b),
            "after_median": statistics.median(a[key] for _, a in pairs if key in a),
            "after_over_before_median": statistics.median(ratios),
            "median_ci95": [low, high],
            "sign_test_p": sign_test(ratios),
        }
    width = max(len(k) for k in table) if table else 10
    print(
        f"{'figure':<{width}}  {'before':>12}  {'after':>12}  {'after/before':>12}"
        f"  {'95% interval':>13}  {'sign p':>6}"
    )
    for key, row in table.items():
        low, high = row["median_ci95"]
        print(
            f"{key:<{width}}  {row['before_median']:>12.4g}  {row['after_median']:>12.4g}"
            f"  {row['after_over_before_median']:>12.3f}  {low:>6.3f}-{high:<6.3f}"
            f"  {row['sign_test_p']:>6.3f}"
        )
    if args.out:
        args.out.write_text(json.dumps({"rounds": args.rounds, "figures": table}, indent=2))


if __name__ == "__main__":
    main()
