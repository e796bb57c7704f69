"""The trade-off frontier: cold starts against idle instance-seconds, each policy's knob swept.

One replay point compares policies at different idle costs; this sweeps each policy's own
knob on the same population (in memory, as ``replay_bench.py`` builds it) and prints per
population a table (policy, knob, cold % p50 and p75 across functions, total cold starts,
idle instance-seconds and their ratio to ``reactive``'s, measured in the same run), the
lower envelope of each policy (the points no cheaper point of the same policy beats on
p75), the p75 each envelope reaches at ``reactive``'s idle and at the default
``hybrid-histogram``'s idle (linear interpolation between the two sweep points around
it), and with ``--plot FILE`` a chart of p75 against idle / ``reactive``.

The knobs (every other constant: ``ReplayConfig``'s defaults):

* ``predictive``: ``budget_ratio`` (its idle budget, times ``reactive``'s idle) for each
  ``keepalive_cold_share`` (the share of a memoryless function's calls a keep-alive
  window lets start cold); the floor of the budget's minimum rate is lowered to
  ``--min-rate`` so that the budget, not the floor, decides how many functions get a
  window. The defaults (0.97, 0.4, floor 0.02) are one more point.
* ``hybrid-histogram``: ``histogram_range_minutes`` (the histogram's range, which is
  also the conservative keep-alive of functions without a usable histogram: most of
  its idle time) with the paper's 5th/99th percentiles; and at the paper's 4-hour range
  the ``tail_percentile`` (the end of the keep-alive window).
* ``fixed-keepalive``: ``keepalive_minutes``. ``reactive``: once, the reference.

    .venv/bin/python benchmarks/replay_frontier.py --populations tuning-1,tuning-2 \\
        --functions 200 --days 14 --plot /tmp/frontier.png

Populations come from ``replay_populations.py``; tune on ``tuning-*`` only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


from constellation.predictive import ReplayConfig, Trace, simulate


@dataclass(frozen=True)
class Setting:
    """One point of a sweep: a policy, the line it belongs to, its knob and config."""

    policy: str
    line: str
    knob: str
    value: float
    config: ReplayConfig


@dataclass(frozen=True)
class Point:
    policy: str
    line: str
    knob: str
    value: float
    p50: float
    p75: float
    cold_starts: int
    idle: float
    idle_ratio: float = 0.0
    wall_seconds: float = 0.0


def floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected numbers separated by commas"
        ) from None


def settings(
    budgets: Sequence[float] = (0.9, 0.97, 1.1, 1.3, 1.6, 1.9, 2.2),
    cold_shares: Sequence[float] = (0.4, 0.2, 0.1, 0.05),
    min_rate: float = 0.001,
    hybrid_ranges: Sequence[float] = (5, 10, 30, 60, 120, 240),
    hybrid_tails: Sequence[float] = (50, 75, 90, 95),
    keepalives: Sequence[float] = (1, 2, 5, 10, 20, 60),
    base: ReplayConfig | None = None,
    with_defaults: bool = True,
) -> list[Setting]:
    """Every point of the sweep; ``reactive`` first (the others' reference)."""
    base = base or ReplayConfig()
    out = [Setting("reactive", "reactive", "-", 0.0, base)]
    for k in keepalives:
        out.append(
            Setting(
                "fixed-keepalive",
                "fixed-keepalive",
                "keepalive_minutes",
                k,
                base.replace(keepalive_minutes=int(k)),
            )
        )
    for r in hybrid_ranges:
        cfg = base.replace(histogram_range_minutes=int(r))
        out.append(Setting("hybrid-histogram", "hybrid: range", "histogram_range_minutes", r, cfg))
    for q in hybrid_tails:
        cfg = base.replace(tail_percentile=float(q))
        out.append(Setting("hybrid-histogram", "hybrid: tail pct", "tail_percentile", q, cfg))
    if with_defaults:
        out.append(
            Setting("predictive", "predictive: defaults", "budget_ratio", base.budget_ratio, base)
        )
    for c in cold_shares:
        for b in budgets:
            cfg = base.replace(
                budget_ratio=float(b), keepalive_cold_share=float(c), keepalive_min_rate=min_rate
            )
            out.append(Setting("predictive", f"predictive: c={c:g}", "budget_ratio", b, cfg))
    return out


def run_point(trace: Trace, setting: Setting) -> Point:
    """Replay one setting with the project's own ``simulate``."""
    report = simulate(trace, setting.policy, setting.config).policies[setting.policy]
    return Point(
        setting.policy,
        setting.line,
        setting.knob,
        setting.value,
        report.cold_start_pct_p50,
        report.cold_start_pct_p75,
        report.cold_starts,
        report.idle_instance_seconds,
        wall_seconds=report.wall_seconds,
    )


def with_ratios(points: Sequence[Point]) -> list[Point]:
    """The points with ``idle_ratio`` filled in from the ``reactive`` point among them."""
    reference = [p for p in points if p.policy == "reactive"]
    if not reference:
        raise ValueError("points: expected a reactive point (the reference)")
    base = reference[0].idle
    return [
        Point(**{**asdict(p), "idle_ratio": p.idle / base if base > 0 else float("inf")})
        for p in points
    ]


def envelope(points: Sequence[Point]) -> list[Point]:
    """The lower envelope: by increasing idle, each point whose p75 is below every
    cheaper point's (a point a cheaper one beats, or equals, is dominated)."""
    out: list[Point] = []
    for p in sorted(points, key=lambda p: (p.idle, p.p75)):
        if not out or p.p75 < out[-1].p75:
            out.append(p)
    return out


def p75_at(points: Sequence[Point], idle_ratio: float) -> float | None:
    """The envelope's p75 at ``idle_ratio``: linear between the two sweep points around
    it; None outside the envelope's span (no point that cheap, or none that dear)."""
    front = envelope(points)
    if not front or not front[0].idle_ratio <= idle_ratio <= front[-1].idle_ratio:
        return None
    if len(front) == 1:
        return front[0].p75
    for lo, hi in itertools.pairwise(front):
        if lo.idle_ratio <= idle_ratio <= hi.idle_ratio:
            span = hi.idle_ratio - lo.idle_ratio
            share = (idle_ratio - lo.idle_ratio) / span if span > 0 else 1.0
            return lo.p75 + share * (hi.p75 - lo.p75)
    return None  # unreachable: the span check above covers every ratio


_worker_trace: Trace | None = None


def _init_worker(name: str, functions: int, days: int) -> None:
    global _worker_trace
    from replay_populations import population

    _worker_trace = population(name, functions, days)


def _worker_run(setting: Setting) -> Point:
    assert _worker_trace is not None
    return run_point(_worker_trace, setting)


def _progress(point: Point) -> Point:
    print(f"  {point.line} {point.knob}={point.value:g}: p50 {point.p50:.2f} p75 "
          f"{point.p75:.2f} cold {point.cold_starts} idle {point.idle:.4g} "
          f"({point.wall_seconds:.0f} s)", flush=True)  # fmt: skip
    return point


def sweep(name: str, functions: int, days: int, points: list[Setting], jobs: int) -> list[Point]:
    """Every setting replayed on population ``name`` (``jobs`` processes)."""
    if jobs <= 1:
        _init_worker(name, functions, days)
        return with_ratios([_progress(_worker_run(s)) for s in points])
    with ProcessPoolExecutor(
        jobs, initializer=_init_worker, initargs=(name, functions, days)
    ) as ex:
        return with_ratios([_progress(p) for p in ex.map(_worker_run, points)])


def table(points: Sequence[Point]) -> str:
    rows = [
        "| policy | knob | value | cold % p50 | cold % p75 | cold starts | idle instance-s "
        "| idle / reactive | on envelope |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    policies = {p.policy for p in points}
    fronts = {pol: envelope([p for p in points if p.policy == pol]) for pol in policies}
    for p in points:
        on = "yes" if p in fronts[p.policy] else ""
        rows.append(
            f"| {p.line} | {p.knob} | {p.value:g} | {p.p50:.2f} | {p.p75:.2f} | "
            f"{p.cold_starts} | {p.idle:.4g} | {p.idle_ratio:.2f} | {on} |"
        )
    return "\n".join(rows)


def readings(points: Sequence[Point]) -> str:
    """p75 of each policy's envelope at reactive's idle and at default hybrid's idle
    (interpolated; "-" with the envelope's span where the mark is outside it)."""
    hybrid = [p for p in points if p.line == "hybrid: range" and p.value == 240]
    marks = [("reactive's idle (1.00)", 1.0)]
    if hybrid:
        marks.append((f"default hybrid's idle ({hybrid[0].idle_ratio:.2f})", hybrid[0].idle_ratio))
    out = []
    for label, ratio in marks:
        parts = []
        for policy in ("fixed-keepalive", "hybrid-histogram", "predictive"):
            mine = [p for p in points if p.policy == policy]
            if not mine:
                continue
            got = p75_at(mine, ratio)
            if got is None:
                front = envelope(mine)
                span = f"{front[0].idle_ratio:.2f}-{front[-1].idle_ratio:.2f}"
                parts.append(f"{policy} - (envelope spans {span})")
            else:
                parts.append(f"{policy} {got:.2f}")
        out.append(f"p75 at {label}: " + ", ".join(parts))
    return "\n".join(out)


def plot(results: dict[str, list[Point]], path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(6.0 * len(results), 4.6), dpi=90, layout="constrained")
    axes = fig.subplots(1, len(results), squeeze=False)[0]
    colours = {
        "reactive": "black",
        "fixed-keepalive": "tab:orange",
        "hybrid-histogram": "tab:blue",
        "predictive": "tab:green",
    }
    styles = ("-", "--", ":", "-.")
    for ax, (name, points) in zip(axes, results.items(), strict=True):
        used: dict[str, int] = {}
        for line in dict.fromkeys(p.line for p in points):
            pts = sorted((p for p in points if p.line == line), key=lambda p: p.idle)
            xs, ys = [p.idle_ratio for p in pts], [p.p75 for p in pts]
            colour = colours.get(pts[0].policy, "grey")
            if line in ("reactive", "predictive: defaults"):
                ax.plot(xs, ys, "*", color=colour, markersize=12, label=line)
                continue
            style = styles[used.get(pts[0].policy, 0) % len(styles)]
            used[pts[0].policy] = used.get(pts[0].policy, 0) + 1
            ax.plot(xs, ys, marker="o", ls=style, color=colour, markersize=4, label=line)
        ax.axvline(1.0, color="grey", lw=0.6, ls=":")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(0.0, 100.0)
        ax.set_xlabel("idle instance-seconds / reactive's")
        ax.set_ylabel("cold-start % per function, 75th percentile")
        ax.set_title(name)
        ax.grid(True, which="both", lw=0.3)
    axes[-1].legend(fontsize=7, loc="lower left")
    fig.savefig(path)


def main() -> None:
    from _util import machine
    from replay_populations import POPULATIONS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--populations", default="tuning-1,tuning-2")
    ap.add_argument("--functions", type=int, default=200)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--budgets", type=floats, default=[0.9, 0.97, 1.1, 1.3, 1.6, 1.9, 2.2])
    ap.add_argument("--cold-shares", type=floats, default=[0.4, 0.2, 0.1, 0.05])
    ap.add_argument("--min-rate", type=float, default=0.001,
                    help="floor of the budget's minimum rate in the sweep (calls per idle minute)")  # fmt: skip
    ap.add_argument("--hybrid-ranges", type=floats, default=[5, 10, 30, 60, 120, 240])
    ap.add_argument("--hybrid-tails", type=floats, default=[50, 75, 90, 95])
    ap.add_argument("--keepalives", type=floats, default=[1, 2, 5, 10, 20, 60])
    ap.add_argument("--policies", default="fixed-keepalive,hybrid-histogram,predictive",
                    help="the policies to sweep (reactive, the reference, always runs)")  # fmt: skip
    ap.add_argument("--no-defaults", action="store_true",
                    help="leave out predictive's default point (already measured)")  # fmt: skip
    ap.add_argument("--jobs", type=int, default=1, help="replays at once (processes)")
    ap.add_argument("--plot", type=Path, help="write the p75 / idle chart here (PNG, SVG)")
    ap.add_argument("--json", type=Path, help="also write the points here")
    ap.add_argument("--load", type=Path, nargs="+",
                    help="no replays: print the tables (and --plot) of a --json file")  # fmt: skip
    args = ap.parse_args()
    if args.load:
        loaded: dict[str, list[Point]] = {}
        order = ("reactive", "fixed-keepalive", "hybrid-histogram", "predictive")
        # Several files are merged per population: the replays are deterministic.
        for path in args.load:
            for name, saved in json.loads(path.read_text()).items():
                have = loaded.setdefault(name, [])
                seen = {(p.line, p.value) for p in have}
                have += [Point(**p) for p in saved if (p["line"], p["value"]) not in seen]
        for name, got in loaded.items():
            got.sort(key=lambda p: (order.index(p.policy), p.line, p.value))
            print(f"\n#### {name}\n\n{table(got)}\n\n{readings(got)}")
        if args.plot:
            plot(loaded, args.plot)
        return
    for name in args.populations.split(","):
        if name not in POPULATIONS:
            raise SystemExit(f"--populations: unknown {name!r}; known: {', '.join(POPULATIONS)}")
    points = settings(
        args.budgets,
        args.cold_shares,
        args.min_rate,
        args.hybrid_ranges,
        args.hybrid_tails,
        args.keepalives,
        with_defaults=not args.no_defaults,
    )
    wanted = {"reactive", *args.policies.split(",")}
    points = [p for p in points if p.policy in wanted]
    print(f"machine: {machine()} (shared with other sessions: figures are same-run ratios)")
    print(f"{len(points)} replays per population, {args.jobs} at once")
    results: dict[str, list[Point]] = {}
    for name in args.populations.split(","):
        started = time.perf_counter()
        results[name] = got = sweep(name, args.functions, args.days, points, args.jobs)
        print(f"\n#### {name}: {args.functions} functions, {args.days} days "
              f"({time.perf_counter() - started:.0f} s)\n")  # fmt: skip
        print(table(got))
        print()
        print(readings(got))
        sys.stdout.flush()
        if args.json:  # after each population: a long run keeps what it has
            args.json.write_text(
                json.dumps({k: [asdict(p) for p in v] for k, v in results.items()}, indent=1)
            )
    if args.plot:
        plot(results, args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
