"""Scrape time and store size against invocation count: rollups vs the old raw-row scan.

    python benchmarks/metrics_bench.py [--sizes 10000,1000000,10000000] [--old-max 10000000]

What it builds, per size N, in a temporary home (10 functions, 2 invocations a second
in all, so N = 10M spans 58 days; statuses, durations, memory and cold starts drawn from
fixed distributions, seed 7):

* **new**: what the ledger holds after running that long with the default retention of
  7 days: raw rows for the last 7 days (written through the ledger's flush path: the
  multi-row insert plus the rollup upsert, in one transaction per 2000 rows), and for
  older rows the rollups only (the same ``Batch.write``, without the raw insert), which
  is what compaction leaves. Then a real platform opens the home (seeding the
  ``/metrics`` counters from the totals) and we time ``render_metrics`` (the ``/metrics``
  body) and ``get_function_metrics``.
* **old** (the peer): a ledger of N raw rows, as the old code kept them (bulk SQL insert),
  and the old code's queries: per function the GROUP BY status count and every
  duration sorted into Python for the histogram and the percentiles.

Timings are the median of 5 runs after one warm-up. Nothing here was tuned on these
figures: the rollup granularity (one minute) and the sketch accuracy (1%) are the
brief's, the batch sizes are the ledger's defaults.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from constellation.platform import Constellation  # noqa: E402
from constellation.schema import MIGRATIONS, migrate  # noqa: E402
from constellation.server._metrics import render_metrics  # noqa: E402
from constellation.serverless._ledger import _insert_rows  # noqa: E402
from constellation.serverless._rollups import Batch  # noqa: E402
from constellation.store import Store  # noqa: E402

FUNCTIONS = 10
RATE_PER_S = 2.0
RETENTION_S = 7 * 86400.0
NOW = 1_900_000_000.0
STATUSES = ["success"] * 95 + ["error"] * 3 + ["timeout", "throttled"]
CHUNK = 2000  # rows per flush, the ledger's default batch size
OLD_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _rows(
    rng: random.Random, fids: list[str], first: int, count: int, n: int, rate: float = RATE_PER_S
) -> list[tuple[Any, ...]]:
    """Rows ``first .. first + count - 1`` of ``n``, ``rate`` a second, the last one at NOW."""
    rows = []
    for i in range(first, first + count):
        status = rng.choice(STATUSES)
        k = i % FUNCTIONS
        cold = status != "throttled" and rng.random() < 0.02
        duration = 0.0 if status == "throttled" else rng.lognormvariate(0.5, 1.0)
        init = rng.uniform(20, 80) if cold else 0.0
        billed = 0 if status == "throttled" else max(1, math.ceil(duration + init))
        started = NOW - (n - 1 - i) / rate
        rows.append(
            (f"r{i}", fids[k], f"f{k}", started, duration, billed, init, 128, 40.0, status,
             int(cold), "i-1", None if status == "success" else "boom")
        )  # fmt: skip
    return rows


def build_new(home: Path, fids: list[str], n: int) -> None:
    store = Store(home / "constellation.db")
    rng = random.Random(7)
    in_retention = n - int(RETENTION_S * RATE_PER_S)
    for first in range(0, n, CHUNK):
        rows = _rows(rng, fids, first, min(CHUNK, n - first), n)
        batch = Batch(rows)
        with store.transaction() as conn:
            if first + len(rows) > in_retention:
                _insert_rows(conn, [r for i, r in enumerate(rows) if first + i >= in_retention])
            batch.write(conn)
    if in_retention > 0:
        store.execute("INSERT INTO ledger_compaction VALUES (0, ?)", (NOW - RETENTION_S,))
    store.close()


def build_old(path: Path, fids: list[str], n: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])  # release 0.1.0's tables: the raw ledger, no rollups
    conn.execute("PRAGMA journal_mode=WAL")
    ids = " ".join(f"WHEN {k} THEN '{fid}'" for k, fid in enumerate(fids))
    conn.execute("BEGIN")
    conn.execute(
        f"INSERT INTO ledger WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c "
        f"WHERE i < {n - 1}) SELECT 'r' || i, CASE i % {FUNCTIONS} {ids} END, 'f' || (i % 10), "
        f"{NOW} - ({n - 1} - i) / {RATE_PER_S}, (abs(random()) % 100000) / 10000.0, 3, 0.0, "
        "128, 40.0, CASE WHEN abs(random()) % 100 < 95 THEN 'success' ELSE 'error' END, "
        "0, 'i-1', NULL FROM c"
    )
    conn.execute("COMMIT")
    conn.close()


def _old_durations(conn: sqlite3.Connection, fid: str) -> list[float]:
    """Every duration of a function, sorted: what the old code read per scrape."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT duration_ms FROM ledger WHERE function_id = ? AND status != 'throttled' "
            "ORDER BY duration_ms",
            (fid,),
        )
    ]


def old_scrape(conn: sqlite3.Connection, fids: list[str]) -> int:
    """The old /metrics ledger part: per function, counts by status and every duration."""
    lines = 0
    for fid in fids:
        conn.execute(
            "SELECT status, COUNT(*), SUM(cold_start), SUM(CASE WHEN cold_start = 1 THEN init_ms "
            "ELSE 0 END), SUM(billed_ms) FROM ledger WHERE function_id = ? GROUP BY status",
            (fid,),
        ).fetchall()
        durations = _old_durations(conn, fid)
        lines += len([bisect.bisect_right(durations, b * 1000.0) for b in OLD_BUCKETS_S])
    return lines


def old_function_metrics(conn: sqlite3.Connection, fid: str) -> float:
    conn.execute(
        "SELECT status, COUNT(*) FROM ledger WHERE function_id = ? GROUP BY status", (fid,)
    ).fetchall()
    durations = _old_durations(conn, fid)
    return durations[max(0, math.ceil(0.99 * len(durations)) - 1)] if durations else 0.0


def write_cost(tmp: Path, rate_per_s: float) -> dict[str, float]:
    """CPU per row of a ledger flush of 2000 rows: the raw insert alone (the old flush)
    and with the rollups (the new one), at ``rate_per_s`` invocations a second over 10
    functions (so a flush covers 2000 / rate seconds). Interleaved, best of three."""
    fids = [f"fn-{k}" for k in range(FUNCTIONS)]
    rng = random.Random(11)
    n = 60 * CHUNK
    batches = [_rows(rng, fids, i * CHUNK, CHUNK, n, rate_per_s) for i in range(60)]
    best = {"old": math.inf, "new": math.inf}
    for trial in range(3):
        for label in ("old", "new"):
            store = Store(tmp / f"write-{label}-{rate_per_s}-{trial}.db")
            t = time.process_time()
            for rows in batches:
                batch = Batch(rows) if label == "new" else None
                with store.transaction() as conn:
                    _insert_rows(conn, rows)
                    if batch is not None:
                        batch.write(conn)
            best[label] = min(best[label], (time.process_time() - t) / n * 1e6)
            store.close()
    return best


def _median_s(fn: Any, runs: int = 5) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6


def measure(n: int, old: bool, tmp: Path) -> dict[str, Any]:
    home = tmp / f"home-{n}"
    handlers = tmp / "handlers.py"
    handlers.write_text("def noop(event, context):\n    return None\n")
    with Constellation(home, clock=lambda: NOW) as platform:
        fids = [
            platform.serverless.create_function(f"f{k}", "python", "noop", str(handlers)).id
            for k in range(FUNCTIONS)
        ]
    t = time.perf_counter()
    build_new(home, fids, n)
    out: dict[str, Any] = {"n": n, "build_s": time.perf_counter() - t}
    db = home / "constellation.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        out["raw_rows"] = conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
        out["rollup_rows"] = conn.execute("SELECT COUNT(*) FROM ledger_rollup").fetchone()[0]
    out["new_mb"] = _size_mb(db)
    with Constellation(home, clock=lambda: NOW, ledger_flush_interval_s=3600.0) as platform:
        t = time.perf_counter()
        sls = platform.serverless  # opens the ledger: seeds the counters from the totals
        out["open_s"] = time.perf_counter() - t
        text = render_metrics(sls)
        assert 'faas_invocations_total{function="f0",trigger="other"}' in text
        out["new_scrape_s"] = _median_s(lambda: render_metrics(sls))
        out["new_fm_s"] = _median_s(lambda: sls.get_function_metrics("f0"))
        out["new_bill_s"] = _median_s(lambda: sls.get_billing("f0"))
    if old:
        old_db = tmp / f"old-{n}.db"
        t = time.perf_counter()
        build_old(old_db, fids, n)
        out["old_build_s"] = time.perf_counter() - t
        out["old_mb"] = _size_mb(old_db)
        with sqlite3.connect(old_db) as conn:
            out["old_scrape_s"] = _median_s(lambda: old_scrape(conn, fids), runs=3)
            out["old_fm_s"] = _median_s(lambda: old_function_metrics(conn, fids[0]), runs=3)
        old_db.unlink()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000,10000000")
    parser.add_argument(
        "--old-max", type=int, default=10_000_000, help="largest N for the old scan"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        print("ledger flush, CPU per row (us): raw insert only (old) / with rollups (new)")
        for rate in (10_000.0, 100.0):
            cost = write_cost(Path(tmp), rate)
            print(f"  {rate:>8,.0f} invocations/s: old {cost['old']:.2f}  new {cost['new']:.2f}")
        for n in (int(s) for s in args.sizes.split(",")):
            result = measure(n, n <= args.old_max, Path(tmp))
            rows.append(result)
            print(result, flush=True)
    print()
    print("| invocations | raw rows kept | rollup rows | store MB (old) | /metrics ms (old) | ratio "
          "| get_function_metrics ms (old) | ratio | get_billing 24h ms |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        old_mb = f" ({r['old_mb']:.0f})" if "old_mb" in r else ""
        old_scrape = f" ({r['old_scrape_s'] * 1e3:.0f})" if "old_scrape_s" in r else ""
        old_fm = f" ({r['old_fm_s'] * 1e3:.0f})" if "old_fm_s" in r else ""
        ratio_s = f"{r['old_scrape_s'] / r['new_scrape_s']:.0f}x" if "old_scrape_s" in r else "-"
        ratio_f = f"{r['old_fm_s'] / r['new_fm_s']:.0f}x" if "old_fm_s" in r else "-"
        print(
            f"| {r['n']:,} | {r['raw_rows']:,} | {r['rollup_rows']:,} | {r['new_mb']:.1f}{old_mb} "
            f"| {r['new_scrape_s'] * 1e3:.2f}{old_scrape} | {ratio_s} "
            f"| {r['new_fm_s'] * 1e3:.2f}{old_fm} | {ratio_f} | {r['new_bill_s'] * 1e3:.2f} |"
        )


if __name__ == "__main__":
    main()
