"""Platform settings: embedded defaults, overridden by a TOML file, then by environment.

Precedence (last wins): the defaults below, ``$CONSTELLATION_HOME/config.toml`` (or the
file named by ``CONSTELLATION_CONFIG``), then ``CONSTELLATION_<FIELD>`` environment
variables (``CONSTELLATION_PRICE_PER_GB_SECOND=0.00001``). Every value is validated when
the settings are built; a bad one raises :class:`ConfigError` naming the field, the
source it came from and what is allowed.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["Settings", "default_home", "load_settings"]

ENV_PREFIX = "CONSTELLATION_"
BACKENDS = ("local", "ray")
_TEXT_FIELDS = frozenset({"backend", "ray_address", "ray_placement", "sandbox", "secrets_key_file"})
SANDBOX_MODES = ("auto", "on", "off")


def default_home() -> Path:
    return Path(os.environ.get("CONSTELLATION_HOME") or Path.home() / ".constellation")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Validated platform settings. Build with :func:`load_settings` or directly."""

    home: Path = dataclasses.field(default_factory=default_home)
    # Billing: AWS Lambda x86 list prices.
    price_per_million_requests: float = 0.20
    price_per_gb_second: float = 0.0000166667
    # Function defaults (each function may override).
    default_memory_mb: int = 128
    default_timeout_s: int = 30
    default_concurrency: int = 10
    idle_timeout_s: float = 300.0
    # Ledger: batched writes keep the hot path free of SQLite.
    ledger_flush_interval_s: float = 0.2
    ledger_batch_size: int = 2000
    # Raw ledger records (and captured logs) older than this are deleted; bills and
    # metrics come from per-minute rollups and are unchanged. At least one minute.
    ledger_retention_s: float = 7 * 86400.0
    # Async invocations.
    async_workers: int = 4
    async_max_retries: int = 2
    async_retry_base_s: float = 1.0
    async_lease_s: float = 960.0
    # Polling before sleeping: the platform for a reply, a worker for its next request.
    # On an idle VM waking a sleeping process costs tens of microseconds; a short poll
    # avoids it for back-to-back calls at the price of that much CPU. 0 turns it off.
    reply_spin_us: int = 200
    worker_spin_us: int = 500
    # Handler output captured per invocation.
    log_capture_bytes: int = 16384
    log_keep_per_function: int = 1000
    # Background loops.
    reaper_interval_s: float = 5.0
    restart_backoff_initial_s: float = 0.5
    restart_backoff_max_s: float = 30.0
    # Where instances run: "local" (processes on this machine) or "ray" (Ray actors).
    backend: str = "local"
    # The Ray cluster to join: "" starts a local Ray, "auto" finds a running one,
    # "HOST:PORT" is a head's GCS address, "ray://HOST:10001" goes through Ray Client.
    ray_address: str = ""
    # "spread" puts a function's instances on different nodes; "pack" fills one first.
    ray_placement: str = "spread"
    # How long a new instance may wait for Ray to place and start it.
    ray_start_timeout_s: float = 60.0
    # Isolation of Python function instances (docs/security.md): "auto" runs each
    # function's zygote and workers in a bubblewrap sandbox where the machine allows it,
    # "on" refuses to start without one, "off" runs them as the platform's own user.
    sandbox: str = "auto"
    # As root, each function's processes run as one uid of this range (gid alike).
    sandbox_uid_base: int = 200000
    sandbox_uid_count: int = 50000
    sandbox_tmp_mb: int = 64  # each sandbox's private /tmp (memory-backed)
    sandbox_max_pids: int = 256  # processes (and threads) per function's sandbox
    sandbox_network: int = 1  # 0: sandboxed functions get no network (own empty netns)
    # The key that encrypts function env values in the store ("": home/secrets.key).
    secrets_key_file: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser())
        for field in dataclasses.fields(self):
            if field.name == "home":
                continue
            value = getattr(self, field.name)
            if field.name in _TEXT_FIELDS:
                if not isinstance(value, str):
                    raise ConfigError(field.name, f"{value!r} is not a string")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(field.name, f"{value!r} is not a number")
            if value < 0:
                raise ConfigError(field.name, f"{value!r} must be >= 0")
        _check_range("default_memory_mb", self.default_memory_mb, 128, 10240, "MB")
        _check_range("default_timeout_s", self.default_timeout_s, 1, 900, "s")
        _check_range("default_concurrency", self.default_concurrency, 1, 10000)
        _check_range("async_workers", self.async_workers, 1, 256)
        _check_range("async_max_retries", self.async_max_retries, 0, 100)
        _check_range("ledger_batch_size", self.ledger_batch_size, 1, 1_000_000)
        _check_range("ledger_retention_s", self.ledger_retention_s, 60, 100 * 365 * 86400, "s")
        _check_range("reply_spin_us", self.reply_spin_us, 0, 100_000, "us")
        _check_range("worker_spin_us", self.worker_spin_us, 0, 100_000, "us")
        _check_range("log_capture_bytes", self.log_capture_bytes, 0, 6 * 1024 * 1024, "bytes")
        _check_choice("backend", self.backend, BACKENDS)
        _check_choice("ray_placement", self.ray_placement, ("spread", "pack"))
        _check_range("ray_start_timeout_s", self.ray_start_timeout_s, 1, 3600, "s")
        _check_choice("sandbox", self.sandbox, SANDBOX_MODES)
        _check_range("sandbox_uid_base", self.sandbox_uid_base, 1000, 2**31 - 2**20)
        _check_range("sandbox_uid_count", self.sandbox_uid_count, 1, 2**20)
        _check_range("sandbox_tmp_mb", self.sandbox_tmp_mb, 1, 1024 * 1024, "MB")
        _check_range("sandbox_max_pids", self.sandbox_max_pids, 8, 4_194_304)
        _check_range("sandbox_network", self.sandbox_network, 0, 1)
        if self.ledger_flush_interval_s <= 0:
            raise ConfigError("ledger_flush_interval_s", "must be > 0")
        if self.async_lease_s < self.default_timeout_s:
            raise ConfigError("async_lease_s", "must be at least default_timeout_s")

    @property
    def db_path(self) -> Path:
        return self.home / "constellation.db"

    @property
    def code_dir(self) -> Path:
        return self.home / "code"

    @property
    def secrets_key_path(self) -> Path:
        return (
            Path(self.secrets_key_file).expanduser()
            if self.secrets_key_file
            else (self.home / "secrets.key")
        )

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(name, f"{value!r} is not allowed; allowed: {', '.join(allowed)}")


def _check_range(name: str, value: float, low: float, high: float, unit: str = "") -> None:
    if not low <= value <= high:
        raise ConfigError.range(name, value, low, high, unit)


def _coerce(name: str, raw: object, source: str) -> object:
    field_types = {f.name: f.type for f in dataclasses.fields(Settings)}
    if name not in field_types:
        allowed = ", ".join(sorted(field_types))
        raise ConfigError(name, f"unknown setting (from {source}); known settings: {allowed}")
    if name == "home":
        return Path(str(raw))
    if name in _TEXT_FIELDS:
        if not isinstance(raw, str):
            raise ConfigError(name, f"{raw!r} (from {source}) is not a string")
        return raw
    if not isinstance(raw, str):
        return raw
    kind = field_types[name]
    try:
        return int(raw) if kind == "int" else float(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} (from {source}) is not a {kind}") from None


def load_settings(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then the config file, then ``CONSTELLATION_*`` variables, then ``overrides``."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    home = Path(env.get("CONSTELLATION_HOME") or Path.home() / ".constellation")
    config_file = Path(env.get("CONSTELLATION_CONFIG") or home / "config.toml")
    if config_file.is_file():
        try:
            data = tomllib.loads(config_file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config", f"{config_file} is not valid TOML: {exc}") from None
        for key, raw in data.items():
            values[key] = _coerce(key, raw, str(config_file))
    known = {f.name for f in dataclasses.fields(Settings)}
    for key, raw in env.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in known:
                values[name] = _coerce(name, raw, key)
    for key, raw in (overrides or {}).items():
        values[key] = _coerce(key, raw, "arguments")
    values.setdefault("home", home)
    return Settings(**values)  # type: ignore[arg-type]
