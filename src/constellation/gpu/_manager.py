"""GpuManager: the inventory, the allocator and the persisted allocations, together.

Every grant and release is written to the ``gpu_allocations`` table of the platform's
:class:`~constellation.store.Store`, decided and written inside one SQLite write
transaction, so a restarted manager on the same store replays the same allocations onto
the GPUs it discovers (matched by UUID, then by id), and two processes on one store (a
server and the CLI) never grant the same GPU twice: each re-reads the table when
SQLite's ``data_version`` says another connection wrote to it. An allocation whose GPU
is gone after a restart is kept and reported as orphaned until its owner deallocates it.

Owners named ``cluster:<name>`` hold *reservations* (a cluster's ``preallocate_gpus``):
whole free GPUs put in the cluster's pool, used first by requests naming that cluster.
A cluster's default ``scheduling_policy`` is kept in ``gpu_cluster_policies``. Shares the
MPS server must hold (see :mod:`._mps`) start the manager's :class:`MpsDaemon` first.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..errors import ClosedError, ConflictError, ValidationError
from ..store import Store
from ._allocation import (
    Allocation,
    Explanation,
    build_env,
    enforcement_of,
    mig_device_name,
    needs_mps,
)
from ._allocator import Allocator, Grant, mig_key_of
from ._discovery import Discovery
from ._model import Gpu
from ._mps import MpsDaemon, MpsUnavailable
from ._request import PLACEMENTS, GpuRequest
from ._stored import mig_device_of, position_of, reserved_pool, stored_grant

__all__ = ["GpuManager"]


RequestLike = GpuRequest | Mapping[str, Any] | None


class GpuManager:
    """Discovers on first use; ``allocate``/``deallocate`` by owner. ``close()`` is idempotent."""

    def __init__(
        self,
        store: Store | None = None,
        discovery: Discovery | None = None,
        *,
        placement: str = "binpack",
        clock: Callable[[], float] = time.time,
        mps: MpsDaemon | None = None,
    ) -> None:
        self.store = store if store is not None else Store(":memory:")
        self._own_store = store is None
        self.discovery = discovery if discovery is not None else Discovery()
        self._placement = placement
        self._clock = clock
        self.mps = mps  # made on first need (under $CONSTELLATION_HOME/mps) when None
        self._lock = threading.RLock()
        self._allocator: Allocator | None = None
        self._grants: dict[str, tuple[Grant, Allocation]] = {}
        self._version = -1
        self.orphaned: dict[str, str] = {}  # owner -> why it could not be replayed
        Allocator([], placement)  # validates ``placement`` now, not on first use
        self._closed = False

    # -- inventory ----------------------------------------------------------------
    def discover(self, refresh: bool = False) -> list[Gpu]:
        with self._lock:
            if refresh or not self.discovery.discovered:
                self.discovery.discover()
                self._rebuild()
            elif self._allocator is None:
                self._rebuild()
            return list(self.discovery.gpus)

    def _alloc(self) -> Allocator:
        """The allocator, in step with the store (another process may have written to it)."""
        if self._allocator is None:
            self.discover()
        elif self._data_version() != self._version:
            self._rebuild()
        assert self._allocator is not None
        return self._allocator

    def _data_version(self) -> int:
        # SQLite bumps it when *another* connection commits: a CLI or a second server.
        row = self.store.query_one("PRAGMA data_version")
        return int(row[0]) if row is not None else 0

    def _rebuild(self) -> None:
        """A fresh allocator over the current inventory, with every stored grant replayed."""
        self._version = self._data_version()
        allocator = Allocator(self.discovery.gpus, self._placement)
        self._grants, self.orphaned = {}, {}
        for row in self.store.query("SELECT * FROM gpu_allocations ORDER BY created_at, owner"):
            request = GpuRequest.from_value(json.loads(row["request"]))
            keys: list[str] = json.loads(row["gpus"])
            positions = [position_of(allocator, k) for k in keys]
            if any(p is None for p in positions):
                self.orphaned[row["owner"]] = f"GPU {keys} not in the inventory"
                continue
            pos = tuple(p for p in positions if p is not None)
            mig = (
                mig_device_of(allocator.gpus[pos[0]], row["mig_device"])
                if row["mig_device"]
                else None
            )
            if row["mig_device"] and mig is None:
                self.orphaned[row["owner"]] = f"MIG device {row['mig_device']} not found"
                continue
            grant = stored_grant(pos, request, mig, row["owner"])
            allocator.apply(grant)
            self._grants[row["owner"]] = (
                grant,
                self._allocation(
                    row["owner"],
                    allocator,
                    grant,
                    request,
                    row["created_at"],
                    tuple(json.loads(row["pids"])),
                ),
            )
        self._allocator = allocator

    def _allocation(
        self,
        owner: str,
        allocator: Allocator,
        grant: Grant,
        request: GpuRequest,
        created_at: float,
        pids: tuple[int, ...] = (),
    ) -> Allocation:
        gpus = [allocator.gpus[p] for p in grant.positions]
        env = build_env(gpus, grant, request)
        enforcement = enforcement_of(gpus, grant)
        if needs_mps(gpus, grant):
            try:
                env |= self._mps_daemon().ensure()
                enforcement = "mps"
            except MpsUnavailable as exc:
                enforcement = f"none: {exc}"
        return Allocation(
            owner=owner,
            gpu_ids=tuple(g.id for g in gpus),
            uuids=tuple(g.uuid for g in gpus),
            request=request,
            sharing="reserved" if grant.mode == "reserve" else grant.mode,
            memory_mb=grant.memory_mb,
            env=env,
            created_at=created_at,
            mig_device=mig_device_name(gpus[0], grant) if grant.mig else None,
            mig_profile=grant.mig.profile if grant.mig else None,
            pids=pids,
            enforcement=enforcement,
        )

    def _mps_daemon(self) -> MpsDaemon:
        if self.mps is None:
            from ..config import default_home

            self.mps = MpsDaemon(default_home() / "mps")
        return self.mps

    # -- clusters -----------------------------------------------------------------
    def set_cluster_policy(self, cluster: str, policy: str | None) -> None:
        """The placement a cluster's requests use when they name none (None: the manager's)."""
        if not isinstance(cluster, str) or not cluster:
            raise ValidationError("cluster", f"{cluster!r} is not a cluster name")
        if policy is None:
            self.store.execute("DELETE FROM gpu_cluster_policies WHERE cluster = ?", (cluster,))
            return
        if policy not in PLACEMENTS:
            raise ValidationError.choice("scheduling_policy", policy, PLACEMENTS)
        self.store.execute(
            "INSERT OR REPLACE INTO gpu_cluster_policies (cluster, scheduling_policy) VALUES (?, ?)",
            (cluster, policy),
        )

    def cluster_policy(self, cluster: str | None) -> str | None:
        if cluster is None:
            return None
        row = self.store.query_one(
            "SELECT scheduling_policy FROM gpu_cluster_policies WHERE cluster = ?", (cluster,)
        )
        return str(row[0]) if row is not None else None

    def _plan(self, allocator: Allocator, owner: str, req: GpuRequest) -> Grant | None:
        pool = reserved_pool(owner)
        if pool is not None:
            return allocator.plan_reserve(req, pool)
        return allocator.plan(req, self.cluster_policy(req.cluster))

    # -- deciding -----------------------------------------------------------------
    def can_allocate(self, request: RequestLike = None, **kwargs: Any) -> bool:
        req = GpuRequest.from_value(request, **kwargs)
        with self._lock:
            return self._alloc().plan(req, self.cluster_policy(req.cluster)) is not None

    def explain(self, request: RequestLike = None, **kwargs: Any) -> Explanation:
        req = GpuRequest.from_value(request, **kwargs)
        with self._lock:
            allocator = self._alloc()
            grant = allocator.plan(req, self.cluster_policy(req.cluster))
            if grant is not None:
                return Explanation(True, [], tuple(allocator.gpus[p].id for p in grant.positions))
            reasons = allocator.explain(req)
            if not allocator.gpus:
                reasons = [f"no GPUs were discovered ({self.discovery.why_none()})"]
            return Explanation(False, reasons)

    # -- granting -----------------------------------------------------------------
    def allocate(self, owner: str, request: RequestLike = None, **kwargs: Any) -> Allocation | None:
        """Grant GPUs to ``owner``; None when nothing fits (``explain`` says why)."""
        _check_owner(owner)
        req = GpuRequest.from_value(request, **kwargs)
        with self._lock:
            self._check_open()
            self._alloc()  # discovery runs before the write lock is taken, not inside it
            # One write transaction from decision to INSERT: two processes sharing the store
            # take turns, and each decides on the other's committed grants.
            with self.store.transaction() as conn:
                allocator = self._alloc()
                if owner in self._grants or owner in self.orphaned:
                    raise ConflictError(f"owner {owner!r} already holds a GPU allocation")
                grant = self._plan(allocator, owner, req)
                if grant is None:
                    return None
                allocation = self._allocation(owner, allocator, grant, req, self._clock())
                keys = [allocator.gpus[p].uuid or allocator.gpus[p].id for p in grant.positions]
                first = allocator.gpus[grant.positions[0]]
                mig_key = mig_key_of(first, grant.mig) if grant.mig is not None else None
                conn.execute(
                    "INSERT INTO gpu_allocations (owner, request, gpus, mig_device, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        owner,
                        json.dumps(req.as_dict()),
                        json.dumps(keys),
                        mig_key,
                        allocation.created_at,
                    ),
                )
            allocator.apply(grant)  # after the commit: a failed write leaves nothing granted
            self._grants[owner] = (grant, allocation)
            return allocation

    def deallocate(self, owner: str) -> bool:
        """Give ``owner``'s GPUs back; False when it held none."""
        with self._lock:
            self._check_open()
            self._alloc()
            with self.store.transaction() as conn:
                allocator = self._alloc()
                found = self._grants.get(owner)
                if found is None and owner not in self.orphaned:
                    return False
                conn.execute("DELETE FROM gpu_allocations WHERE owner = ?", (owner,))
            if found is not None:
                allocator.release(found[0])
                del self._grants[owner]
            self.orphaned.pop(owner, None)
            return True

    def get_allocation(self, owner: str) -> Allocation | None:
        with self._lock:
            self._alloc()
            found = self._grants.get(owner)
            return found[1] if found else None

    def allocations(self) -> list[Allocation]:
        with self._lock:
            self._alloc()
            return [a for _, a in self._grants.values()]

    def attach_process(self, owner: str, pid: int) -> None:
        """Record that ``pid`` runs for ``owner`` (per-allocation usage comes from it)."""
        with self._lock:
            self._alloc()
            found = self._grants.get(owner)
            if found is None:
                raise ValidationError("owner", f"{owner!r} holds no GPU allocation")
            grant, allocation = found
            pids = tuple(sorted({*allocation.pids, int(pid)}))
            self.store.execute(
                "UPDATE gpu_allocations SET pids = ? WHERE owner = ?", (json.dumps(pids), owner)
            )
            self._grants[owner] = (grant, _with_pids(allocation, pids))

    # -- placement: what the platform's instances ask of the manager ------------------
    def allocate_env(self, owner: str, request: RequestLike) -> dict[str, str]:
        """Grant ``request`` to ``owner`` and return the environment its process runs with
        (``CUDA_VISIBLE_DEVICES`` and friends). Nothing fits: :class:`ValidationError`
        (a ``ValueError``) on field ``gpu`` saying why, and nothing is granted."""
        allocation = self.allocate(owner, request)
        if allocation is None:
            raise ValidationError("gpu", f"no GPU fits the request: {self.explain(request)}")
        return dict(allocation.env)

    @contextmanager
    def holding(self, owner: str, request: RequestLike) -> Iterator[Allocation]:
        """``owner``'s allocation (the one it holds, else a new grant of ``request``) for the
        body of a ``with``; if the body raises, the allocation is given back, so a refused
        deploy leaves nothing granted. Nothing fits: :class:`ValidationError` on ``gpu``."""
        allocation = self.get_allocation(owner) or self.allocate(owner, request)
        if allocation is None:
            raise ValidationError("gpu", f"no GPU fits the request: {self.explain(request)}")
        try:
            yield allocation
        except BaseException:
            self.deallocate(owner)
            raise

    def env_of(self, owner: str) -> dict[str, str] | None:
        """The environment of ``owner``'s allocation; None when it holds none."""
        allocation = self.get_allocation(owner)
        return dict(allocation.env) if allocation is not None else None

    def note_process(self, owner: str, pid: int) -> bool:
        """:meth:`attach_process` when ``owner`` holds an allocation; False when it holds none."""
        with self._lock:
            if self.get_allocation(owner) is None:
                return False
            self.attach_process(owner, pid)
            return True

    def release(self, owner: str) -> bool:
        """:meth:`deallocate`, for an instance that ended: a closed manager (the platform is
        going away) keeps the row, which the next :meth:`release_owners` gives back."""
        try:
            return self.deallocate(owner)
        except ClosedError:
            return False

    def release_owners(self, prefix: str) -> list[str]:
        """Give back every allocation (orphaned ones too) whose owner starts with ``prefix``;
        returns those owners. Reads the table first, so nothing is discovered when no owner
        matches (a platform that starts with no stale function allocations stays quick)."""
        if not prefix:
            raise ValidationError("prefix", "an empty prefix would release every allocation")
        with self._lock:
            self._check_open()
            rows = self.store.query("SELECT owner FROM gpu_allocations ORDER BY owner")
            owners = [row[0] for row in rows if str(row[0]).startswith(prefix)]
            for owner in owners:
                self.deallocate(owner)
            return owners

    def committed(self) -> dict[str, int]:
        """Memory committed per GPU id (for stats and the CLI)."""
        with self._lock:
            allocator = self._alloc()
            return {g.id: int(allocator.committed[i]) for i, g in enumerate(allocator.gpus)}

    def stats(self) -> dict[str, Any]:
        with self._lock:
            allocator = self._alloc()
            gpus = allocator.gpus
            vendors: dict[str, int] = {}
            for gpu in gpus:
                vendors[gpu.vendor] = vendors.get(gpu.vendor, 0) + 1
            return {
                "gpus": len(gpus),
                "by_vendor": vendors,
                "memory_total_mb": int(allocator.total.sum()),
                "memory_committed_mb": int(allocator.committed.sum()),
                "allocations": len(self._grants),
                "orphaned": dict(self.orphaned),
                "placement": self._placement,
                "backends": [
                    {
                        "backend": r.backend,
                        "status": r.status,
                        "detail": r.detail,
                        "gpus": r.gpus,
                        "seconds": round(r.seconds, 6),
                    }
                    for r in self.discovery.reports
                ],
                "why_none": None if gpus else self.discovery.why_none(),
            }

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("the GPU manager is closed")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.discovery.close()
            if self.mps is not None:
                self.mps.close()
            if self._own_store:
                self.store.close()

    def __enter__(self) -> GpuManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _with_pids(allocation: Allocation, pids: tuple[int, ...]) -> Allocation:
    from dataclasses import replace

    return replace(allocation, pids=pids)


def _check_owner(owner: object) -> None:
    if not isinstance(owner, str) or not owner.strip() or len(owner) > 200:
        raise ValidationError(
            "owner", f"{owner!r} is not allowed; expected a non-empty name of <= 200 characters"
        )
