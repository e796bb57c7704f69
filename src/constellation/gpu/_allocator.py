"""Placement: which GPUs (or which MIG slice) a request gets, decided in microseconds.

The state of every GPU lives in a few numpy arrays (committed memory, sharing mode,
tenant count, MPS share in use, time-slice slots), updated in place on every grant and
release, so a decision is a handful of vectorised comparisons over the inventory and
never a walk over the live allocations. One GPU holds one sharing mode at a time:
``exclusive`` tenants are alone, ``shared`` and ``mps`` tenants are packed by memory
(``mps`` also by compute share), ``time_slice`` tenants take one of ``replicas`` slots.
A GPU in MIG mode only serves MIG requests, one tenant per discovered MIG device.

Placement is ``binpack`` (default: best fit, the GPU with the least uncommitted memory
that still fits, so roomy GPUs stay free for big requests) or ``spread`` (the GPU with
the most uncommitted memory, then the fewest tenants, to spread heat and contention);
a request's ``scheduling_policy`` overrides the allocator's for that decision.

A cluster's reservation (``preallocate_gpus``) puts whole free GPUs into the cluster's
*pool*: they take no tenant themselves, but only requests naming that ``cluster`` may use
them, and such requests look in their pool first and fall back to unpooled GPUs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ValidationError
from ._catalog import mig_table_for
from ._model import Gpu, MigDevice
from ._request import PLACEMENTS, GpuRequest

__all__ = ["PLACEMENTS", "Allocator", "Grant", "mig_key_of"]

_FREE, _EXCLUSIVE, _SHARED, _MPS, _TIME_SLICE = 0, 1, 2, 3, 4
_MODE = {"exclusive": _EXCLUSIVE, "shared": _SHARED, "mps": _MPS, "time_slice": _TIME_SLICE}
_VENDOR = {"nvidia": 0, "amd": 1, "intel": 2}


@dataclass(frozen=True, slots=True)
class Grant:
    """What a request was given: GPU positions in the inventory, memory on each, a MIG slice."""

    positions: tuple[int, ...]
    memory_mb: int  # committed on each GPU
    mode: str  # a sharing mode, "mig", or "reserve" (a cluster's pool)
    compute_share: int = 0
    replicas: int = 0
    mig: MigDevice | None = None
    pool: str | None = None  # the cluster a "reserve" grant pools its GPUs for


class Allocator:
    def __init__(self, gpus: Sequence[Gpu], placement: str = "binpack") -> None:
        if placement not in PLACEMENTS:
            raise ValidationError.choice("placement", placement, PLACEMENTS)
        self.placement = placement
        self.gpus = list(gpus)
        n = len(self.gpus)
        self.vendor = np.array([_VENDOR[g.vendor] for g in self.gpus], dtype=np.int8)
        cc = [
            g.compute_capability if g.compute_capability is not None else np.nan for g in self.gpus
        ]
        self.cc = np.array(cc, dtype=np.float64)
        self.mig = np.array([g.mig_enabled for g in self.gpus], dtype=bool)
        self.total = np.array([g.memory_total or 0 for g in self.gpus], dtype=np.int64)
        self.committed = np.zeros(n, dtype=np.int64)
        self.mode = np.zeros(n, dtype=np.int8)
        self.tenants = np.zeros(n, dtype=np.int32)
        self.share = np.zeros(n, dtype=np.int32)
        self.slots = np.zeros(n, dtype=np.int32)
        self.mig_taken: set[str] = set()  # keys of MIG devices in use
        self.pool = np.zeros(n, dtype=np.int32)  # 0: unpooled, else a cluster's code
        self._pool_codes: dict[str, int] = {}

    def _pool_code(self, name: str) -> int:
        return self._pool_codes.setdefault(name, len(self._pool_codes) + 1)

    # -- deciding -----------------------------------------------------------------
    def _eligible(self, request: GpuRequest, pool: int = 0) -> tuple[np.ndarray, int]:
        """The mask of GPUs in ``pool`` that can take one share of ``request``, and the
        memory per GPU."""
        mask = ~self.mig & self._mode_ok(request) & (self.pool == pool)
        if request.vendor is not None:
            mask &= self.vendor == _VENDOR[request.vendor]
        if request.min_compute_capability is not None:
            mask &= self.cc >= request.min_compute_capability  # NaN (unknown) compares False
        need = request.memory_mb or 0
        if need:
            mask &= self.total - self.committed >= need
        return mask, need

    def _mode_ok(self, request: GpuRequest) -> np.ndarray:
        """GPUs whose current sharing mode admits one more tenant of ``request``'s mode."""
        mode = _MODE[request.sharing_mode]
        free = self.mode == _FREE
        if mode == _EXCLUSIVE:
            return free
        if mode == _SHARED:
            return free | (self.mode == _SHARED)
        if mode == _MPS:
            fits = self.share + (request.compute_share or 0) <= 100
            return free | ((self.mode == _MPS) & fits)
        same = (self.slots == request.replicas) & (self.tenants < self.slots)
        return free | ((self.mode == _TIME_SLICE) & same)

    def plan(self, request: GpuRequest, placement: str | None = None) -> Grant | None:
        """The grant ``request`` would get now, or None. Changes nothing. ``placement``
        (else the request's ``scheduling_policy``, else the allocator's) orders the GPUs."""
        if request.mig_profile is not None:
            return self._plan_mig(request)
        placement = request.scheduling_policy or placement or self.placement
        if request.cluster is not None and request.cluster in self._pool_codes:
            own = self._plan(request, self._pool_codes[request.cluster], placement)
            if own is not None:
                return own
        return self._plan(request, 0, placement)

    def plan_reserve(self, request: GpuRequest, pool: str) -> Grant | None:
        """Whole free, unpooled GPUs for ``pool`` (a cluster), or None. Changes nothing."""
        mask = ~self.mig & (self.mode == _FREE) & (self.pool == 0)
        if request.vendor is not None:
            mask &= self.vendor == _VENDOR[request.vendor]
        if request.min_compute_capability is not None:
            mask &= self.cc >= request.min_compute_capability
        if request.memory_mb:
            mask &= self.total >= request.memory_mb
        candidates = np.flatnonzero(mask)
        if len(candidates) < request.gpu_count:
            return None
        # The roomiest GPUs first: a pool is reserved for work still to come.
        order = np.argsort(-self.total[candidates], kind="stable")
        chosen = tuple(int(p) for p in candidates[order[: request.gpu_count]])
        return Grant(positions=chosen, memory_mb=0, mode="reserve", pool=pool)

    def _plan(self, request: GpuRequest, pool: int, placement: str) -> Grant | None:
        mask, need = self._eligible(request, pool)
        candidates = np.flatnonzero(mask)
        if request.gpu_count > 1 and request.vendor is None:
            # Several GPUs for one instance must share a vendor (one runtime, one env).
            groups = [candidates[self.vendor[candidates] == code] for code in _VENDOR.values()]
            candidates = next((g for g in groups if len(g) >= request.gpu_count), candidates[:0])
        if len(candidates) < request.gpu_count:
            return None
        free = (self.total - self.committed)[candidates]
        if placement == "binpack":
            order = np.argsort(free, kind="stable")
        else:
            order = np.lexsort((self.tenants[candidates], -free))
        chosen = tuple(int(p) for p in candidates[order[: request.gpu_count]])
        return Grant(
            positions=chosen,
            memory_mb=need,
            mode=request.sharing_mode,
            compute_share=request.compute_share or 0,
            replicas=request.replicas if request.sharing_mode == "time_slice" else 0,
        )

    def _plan_mig(self, request: GpuRequest) -> Grant | None:
        best: tuple[int, int, MigDevice] | None = None
        for pos in np.flatnonzero(self.mig):
            gpu = self.gpus[pos]
            if request.min_compute_capability is not None and not (
                self.cc[pos] >= request.min_compute_capability
            ):
                continue
            free = [m for m in gpu.mig_devices if m.profile == request.mig_profile]
            free = [m for m in free if mig_key_of(gpu, m) not in self.mig_taken]
            if not free:
                continue
            used = self.tenants[pos]
            # binpack: the GPU with the most slices already used; spread: the fewest.
            rank = -int(used) if self.placement == "binpack" else int(used)
            if best is None or rank < best[0]:
                best = (rank, int(pos), free[0])
        if best is None:
            return None
        return Grant((best[1],), best[2].memory_mb or 0, "mig", mig=best[2])

    # -- granting and releasing ---------------------------------------------------
    def apply(self, grant: Grant) -> None:
        if grant.mode == "reserve":
            code = self._pool_code(grant.pool or "")
            for pos in grant.positions:
                self.pool[pos] = code
            return
        for pos in grant.positions:
            if grant.mig is not None:
                self.mig_taken.add(mig_key_of(self.gpus[pos], grant.mig))
                self.tenants[pos] += 1
                continue
            mode = _MODE[grant.mode]
            self.mode[pos] = mode
            self.tenants[pos] += 1
            # An exclusive tenant holds all of the memory, so nothing packs next to it.
            self.committed[pos] += self.total[pos] if mode == _EXCLUSIVE else grant.memory_mb
            self.share[pos] += grant.compute_share
            if mode == _TIME_SLICE:
                self.slots[pos] = grant.replicas

    def release(self, grant: Grant) -> None:
        if grant.mode == "reserve":  # tenants placed in the pool keep running
            for pos in grant.positions:
                self.pool[pos] = 0
            return
        for pos in grant.positions:
            self.tenants[pos] -= 1
            if grant.mig is not None:
                self.mig_taken.discard(mig_key_of(self.gpus[pos], grant.mig))
                continue
            mode = _MODE[grant.mode]
            self.committed[pos] -= self.total[pos] if mode == _EXCLUSIVE else grant.memory_mb
            self.share[pos] -= grant.compute_share
            if self.tenants[pos] == 0:
                self.mode[pos] = _FREE
                self.slots[pos] = 0

    def snapshot(self) -> tuple[object, ...]:
        """The whole mutable state, comparable with ``==`` (for tests and checks)."""
        arrays = (self.committed, self.mode, self.tenants, self.share, self.slots, self.pool)
        return (*(a.tolist() for a in arrays), sorted(self.mig_taken))

    # -- explaining ---------------------------------------------------------------
    def explain(self, request: GpuRequest) -> list[str]:
        """Why ``request`` does not fit now (empty when it does)."""
        if self.plan(request) is not None:
            return []
        n = len(self.gpus)
        if n == 0:
            return ["no GPUs were discovered on this machine"]
        if request.mig_profile is not None:
            return self._explain_mig(request)
        reasons = []
        alive = np.ones(n, dtype=bool)

        def drop(mask: np.ndarray, why: str) -> None:
            nonlocal alive
            out = int((alive & ~mask).sum())
            if out:
                reasons.append(f"{out} of {n} GPU(s) {why}")
            alive &= mask

        drop(~self.mig, "are in MIG mode (ask with mig_profile)")
        own = self._pool_codes.get(request.cluster or "", -1)
        drop((self.pool == 0) | (self.pool == own), "are reserved for another cluster's pool")
        if request.vendor is not None:
            drop(self.vendor == _VENDOR[request.vendor], f"are not {request.vendor}")
        if request.min_compute_capability is not None:
            cc = request.min_compute_capability
            drop(self.cc >= cc, f"have compute capability below {cc} (or unknown)")
        drop(self._mode_ok(request), f"are taken in a mode that excludes {request.sharing_mode!r}")
        need = request.memory_mb or 0
        if need:
            drop(self.total - self.committed >= need, f"have less than {need} MB uncommitted")
        fit = int(alive.sum())
        reasons.append(f"{request.gpu_count} GPU(s) needed, {fit} fit")
        if fit >= request.gpu_count:
            reasons.append(
                "the GPUs that fit are of different vendors; one request's GPUs share one"
            )
        return reasons

    def _explain_mig(self, request: GpuRequest) -> list[str]:
        migs = [self.gpus[p] for p in np.flatnonzero(self.mig)]
        if not migs:
            return [f"no GPU has MIG enabled ({len(self.gpus)} GPU(s) discovered)"]
        reasons = []
        for gpu in migs:
            table = mig_table_for(gpu.name, gpu.memory_total)
            profiles = sorted({m.profile or "?" for m in gpu.mig_devices})
            if table is not None and request.mig_profile not in table[1]:
                reasons.append(f"{gpu.id} ({table[0]}) has no profile {request.mig_profile}")
            else:
                reasons.append(
                    f"{gpu.id} has no free {request.mig_profile} device (its devices: "
                    f"{', '.join(profiles) or 'none'}; see `constellation gpu mig plan`)"
                )
        return reasons


def mig_key_of(gpu: Gpu, device: MigDevice) -> str:
    """A MIG device's identity: its UUID, or GPU/GI/index where the tool gave no UUID."""
    return device.uuid or f"{gpu.uuid or gpu.id}/{device.gpu_instance_id}/{device.index}"
