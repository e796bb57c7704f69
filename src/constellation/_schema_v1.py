"""Schema version 1: the tables of release 0.1.0, frozen.

Stores in the field ran this DDL, so it never changes (:mod:`constellation.schema` owns
the schema and applies it as its first migration). Stores written before versioning
have user_version 0 and some or all of these tables already, so the statements are
``CREATE ... IF NOT EXISTS``; the two columns that release added to ``functions`` with
``ALTER TABLE`` are added by the migration where they are missing.
"""

from __future__ import annotations

__all__ = ["V1"]

V1 = """
CREATE TABLE IF NOT EXISTS functions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    runtime TEXT NOT NULL,
    handler TEXT NOT NULL,
    source TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    entry TEXT NOT NULL,
    memory_mb INTEGER NOT NULL,
    timeout_s INTEGER NOT NULL,
    concurrency INTEGER NOT NULL,
    env TEXT NOT NULL,
    scaling_policy TEXT NOT NULL,
    cold_start_optimization INTEGER NOT NULL,
    prewarm_instances INTEGER NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    deployed_at REAL,
    gas_limit INTEGER,
    resources TEXT NOT NULL DEFAULT '{}',
    gpu TEXT
);
CREATE TABLE IF NOT EXISTS ledger (
    request_id TEXT NOT NULL,
    function_id TEXT NOT NULL,
    function_name TEXT NOT NULL,
    started_at REAL NOT NULL,
    duration_ms REAL NOT NULL,
    billed_ms INTEGER NOT NULL,
    init_ms REAL NOT NULL,
    memory_mb INTEGER NOT NULL,
    memory_used_mb REAL NOT NULL,
    status TEXT NOT NULL,
    cold_start INTEGER NOT NULL,
    instance_id TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS ledger_function_time ON ledger(function_id, started_at);
CREATE INDEX IF NOT EXISTS ledger_request ON ledger(request_id);
CREATE TABLE IF NOT EXISTS invocation_logs (
    request_id TEXT PRIMARY KEY,
    function_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    logs TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invocation_logs_function ON invocation_logs(function_id, started_at);
CREATE TABLE IF NOT EXISTS async_invocations (
    request_id TEXT PRIMARY KEY,
    function_id TEXT NOT NULL,
    function_name TEXT NOT NULL,
    event TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    next_attempt_at REAL,
    lease_owner TEXT,
    lease_until REAL,
    result TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS async_due ON async_invocations(state, next_attempt_at);
CREATE TABLE IF NOT EXISTS scaling_decisions (
    function_id TEXT NOT NULL,
    at REAL NOT NULL,
    current INTEGER NOT NULL,
    desired INTEGER NOT NULL,
    reactive INTEGER NOT NULL,
    predicted INTEGER,
    panic INTEGER NOT NULL,
    stable_concurrency REAL NOT NULL,
    panic_concurrency REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scaling_decisions_function ON scaling_decisions(function_id, at);
CREATE TABLE IF NOT EXISTS triggers (
    id TEXT PRIMARY KEY,
    function_id TEXT NOT NULL,
    type TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS triggers_function ON triggers(function_id);
CREATE TABLE IF NOT EXISTS trigger_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS trigger_queue_due ON trigger_queue(queue, visible_at, seq);
CREATE TABLE IF NOT EXISTS trigger_event_subscriptions (
    name TEXT PRIMARY KEY,
    pattern TEXT NOT NULL,
    queue TEXT NOT NULL,
    owner TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deployment_clusters (
    name TEXT PRIMARY KEY,
    gpu_enabled INTEGER NOT NULL,
    predictive_scaling INTEGER NOT NULL,
    description TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deployments (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    generation INTEGER NOT NULL,
    cluster TEXT REFERENCES deployment_clusters(name),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deployment_instances (
    id TEXT PRIMARY KEY,
    deployment TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    restarts INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    pid_identity TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deployment_instances_by_deployment
    ON deployment_instances(deployment);
CREATE TABLE IF NOT EXISTS gpu_allocations (
    owner TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    gpus TEXT NOT NULL,
    mig_device TEXT,
    created_at REAL NOT NULL,
    pids TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS anomaly_events (
    id             TEXT PRIMARY KEY,
    metric_name    TEXT NOT NULL,
    type           TEXT NOT NULL,
    detected_value REAL NOT NULL,
    expected_value REAL,
    expected_low   REAL,
    expected_high  REAL,
    confidence     REAL NOT NULL,
    severity       TEXT NOT NULL,
    recommendation TEXT NOT NULL,
    instance_id    TEXT,
    detected_at    REAL NOT NULL,
    last_seen_at   REAL NOT NULL,
    resolved_at    REAL,
    score          REAL NOT NULL,
    points         INTEGER NOT NULL,
    detector_id    TEXT,
    method         TEXT,
    details        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS anomaly_events_open ON anomaly_events (resolved_at);
CREATE INDEX IF NOT EXISTS anomaly_events_metric ON anomaly_events (metric_name, detected_at);
CREATE TABLE IF NOT EXISTS platform_instances (
    id TEXT PRIMARY KEY,
    owner_pid INTEGER NOT NULL,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    uptime_s REAL,
    restarts INTEGER,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS platform_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    answer TEXT,
    created_at REAL NOT NULL
)
"""
