"""Queue trigger throughput: Redis Streams, NATS JetStream and the embedded SQLite queue.

For each broker, in the same run:

* ``raw``: the bare client drains the same number of pre-published messages in batches
  of ``batch_size`` from one thread, acking each batch in one round trip (JetStream: one
  ack publish per message, as its protocol has no batch ack): the broker's limit here.
* ``trigger (no-op callable)``: ``start_trigger`` with an ``invoke`` that returns success
  at once: the trigger machinery's own cost.
* ``trigger -> function``: ``start_trigger`` delivering to a real no-op Python function
  (``invoke_sync`` on a platform in a temporary home), with ``max_in_flight`` equal to the
  function's concurrency.
* ``invoke_sync alone``: the same function invoked from ``max_in_flight`` threads without
  a broker: the function path's limit.

Messages are published before the consumer starts; a run's time is from start to the
last ack. Usage: ``.venv/bin/python benchmarks/triggers_bench.py [--messages N] [--json F]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import machine

from constellation.platform import Constellation
from constellation.store import Store
from constellation.triggers import publish, start_trigger

REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"
BATCH = 10
IN_FLIGHT = 4
NOOP = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "triggers" / "handlers.py"


class _Ok:
    ok = True
    error = None


def raw_sqlite(db: Path, queue: str, n: int) -> float:
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    done = 0
    t0 = time.perf_counter()
    while done < n:
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(
            "UPDATE trigger_queue SET deliveries = deliveries + 1, visible_at = ?, lease_owner = 'raw' "
            "WHERE seq IN (SELECT seq FROM trigger_queue WHERE queue = ? AND visible_at <= ? "
            "ORDER BY seq LIMIT ?) RETURNING seq",
            (now + 30, queue, now, BATCH),
        ).fetchall()
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")  # one ack transaction per batch
        conn.executemany("DELETE FROM trigger_queue WHERE seq = ?", rows)
        conn.execute("COMMIT")
        done += len(rows)
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def raw_redis(queue: str, n: int) -> float:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.xgroup_create(queue, "raw", id="0", mkstream=True)
    done = 0
    t0 = time.perf_counter()
    while done < n:
        reply = client.xreadgroup("raw", "c", {queue: ">"}, count=BATCH, block=1000)
        for _key, entries in reply:
            ids = [entry_id for entry_id, _fields in entries]
            pipe = client.pipeline(transaction=True)  # one ack round trip per batch
            pipe.xack(queue, "raw", *ids)
            pipe.xdel(queue, *ids)
            pipe.execute()
            done += len(ids)
    return time.perf_counter() - t0


def raw_nats(subject: str, n: int) -> float:
    import nats

    async def go() -> float:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        stream = await js.find_stream_name_by_subject(subject)
        sub = await js.pull_subscribe(subject, durable="raw", stream=stream)
        done = 0
        t0 = time.perf_counter()
        while done < n:
            for msg in await sub.fetch(BATCH, timeout=1):
                await msg.ack()
                done += 1
        elapsed = time.perf_counter() - t0
        await nc.close()
        return elapsed

    return asyncio.run(go())


def drain(spec: dict[str, Any], invoke: Callable[[Any], Any], n: int, store: Store) -> float:
    counted = threading.Event()
    seen = [0]
    lock = threading.Lock()

    def counting(event: Any) -> Any:
        result = invoke(event)
        with lock:
            seen[0] += 1
            if seen[0] == n:
                counted.set()
        return result

    t0 = time.perf_counter()
    with start_trigger(spec, counting, store=store) as runner:
        if not counted.wait(600):
            raise RuntimeError(f"only {seen[0]} of {n} delivered: {runner.stats()}")
        while runner.stats().in_flight:  # the last acks
            time.sleep(0.001)
        elapsed = time.perf_counter() - t0
    return elapsed


def fill(broker: str, queue: str, n: int, store: Store) -> float:
    url = {"redis": REDIS_URL, "nats": NATS_URL}.get(broker)
    t0 = time.perf_counter()
    for i in range(n):
        publish(queue, {"i": i}, broker=broker, url=url, store=store)
    return time.perf_counter() - t0


def cleanup(broker: str, names: list[str]) -> None:
    if broker == "redis":
        import redis

        redis.Redis.from_url(REDIS_URL).delete(*names, *(f"{q}.dlq" for q in names))
    elif broker == "nats":
        import nats

        async def go() -> None:
            nc = await nats.connect(NATS_URL)
            js = nc.jetstream()
            for info in await js.streams_info():
                if any(q.replace(".", "_") in info.config.name for q in names):
                    await js.delete_stream(info.config.name)
            await nc.close()

        asyncio.run(go())


def invoke_alone(sls: Any, n: int) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        results = list(pool.map(lambda i: sls.invoke_sync("noop", {"i": i}), range(n)))
    elapsed = time.perf_counter() - t0
    assert all(r.ok for r in results)
    return elapsed


def measure(broker: str, n: int, sls: Any, store: Store) -> dict[str, float]:
    """One round of every figure for ``broker`` (messages per second)."""
    run = uuid.uuid4().hex[:8]
    names = [f"bench-{run}-{k}" for k in ("raw", "noop", "fn")]
    base = {"type": "queue", "broker": broker, "batch_size": BATCH, "max_in_flight": IN_FLIGHT}
    try:
        published = fill(broker, names[0], n, store)
        if broker == "sqlite":
            raw = raw_sqlite(store.path, names[0], n)
        elif broker == "redis":
            raw = raw_redis(names[0], n)
        else:
            raw = raw_nats(names[0], n)
        fill(broker, names[1], n, store)
        noop = drain({**base, "queue": names[1]}, lambda e: _Ok(), n, store)
        fill(broker, names[2], n, store)
        fn = drain({**base, "queue": names[2]}, lambda e: sls.invoke_sync("noop", e), n, store)
        alone = invoke_alone(sls, n)  # the function path's limit, measured beside it
    finally:
        cleanup(broker, names)
    return {
        "publish_per_s": n / published,
        "raw_per_s": n / raw,
        "trigger_noop_per_s": n / noop,
        "trigger_function_per_s": n / fn,
        "invoke_alone_per_s": n / alone,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is shown")
    parser.add_argument("--brokers", default="sqlite,redis,nats")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    n = args.messages
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        Constellation(
            Path(tmp) / "home", reaper_interval_s=3600.0, default_concurrency=IN_FLIGHT
        ) as platform,
    ):
        sls = platform.serverless
        sls.create_function("noop", code=str(NOOP), handler="noop")
        sls.deploy_function("noop")
        sls.prewarm_function("noop", IN_FLIGHT)
        invoke_alone(sls, 300)  # warm up
        for broker in args.brokers.split(","):
            rounds = [measure(broker, n, sls, platform.store) for _ in range(args.repeat)]
            row: dict[str, Any] = {"broker": broker, "messages": n, "rounds": rounds}
            for key in rounds[0]:
                row[key] = statistics.median(r[key] for r in rounds)
            row["function_over_raw"] = statistics.median(
                r["trigger_function_per_s"] / r["raw_per_s"] for r in rounds
            )
            row["function_over_alone"] = statistics.median(
                r["trigger_function_per_s"] / r["invoke_alone_per_s"] for r in rounds
            )
            rows.append(row)
    info = machine()
    print(
        f"# queue trigger throughput: {n} messages, batch {BATCH}, max_in_flight {IN_FLIGHT}, "
        f"median of {args.repeat} rounds"
    )
    print(f"# {info}")
    print(
        "| broker | publish msg/s | raw drain msg/s (limit) | trigger, no-op callable msg/s "
        "| trigger -> no-op function msg/s | invoke_sync alone msg/s | function / raw "
        "| function / invoke alone |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['broker']} | {r['publish_per_s']:.0f} | {r['raw_per_s']:.0f} "
            f"| {r['trigger_noop_per_s']:.0f} | {r['trigger_function_per_s']:.0f} "
            f"| {r['invoke_alone_per_s']:.0f} | {r['function_over_raw']:.2f} "
            f"| {r['function_over_alone']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
