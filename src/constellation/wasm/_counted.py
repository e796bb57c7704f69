"""How the gas counter charges each loop; counted loops are charged per chunk of iterations.

:func:`plan` picks, for each loop of a function body, one of three ways (used by
:mod:`._metering`): ``counted`` (below), ``line`` (checked at its header with the refill
out of line) or ``header`` (checked at its header with the refill inline: a loop that a
``br_table`` jumps back to, or whose block type takes parameters).

A loop whose trip count is known when it is entered needs no check in its body. The
rewrite in :mod:`._metering` recognises the shape clang and most compilers emit for a
counted loop, a single back edge at the end of the body::

    local.get $x  (i32.const C | local.get $s)  i32.add  local.tee $x
    [(local.get $n | i32.const N)  (i32.ne | i32.lt_u | i32.lt_s)]  br_if 0  end

where ``$x`` is written nowhere else in the loop and ``$n``/``$s`` nowhere in it (without
the comparison the loop runs while ``$x != 0``), and nothing in the body leaves the loop
early (no branch out, no ``return``, no call), so every iteration charged also runs. It then wraps the loop in ``loop
$again`` and, at the top of ``$again``, computes how many iterations are left (``chunk``,
at most ``K``, at least one: a shift for ``!=``, whose step must be a constant power of
two, a division for ``<``), the value ``$ck`` that ``$x`` has after them, and charges ``chunk`` times the
body's cost at once. (Keeping the trip count in a local across chunks instead of
recomputing it cost more on sieve than the division: one more value live across the
loop made Cranelift spill in it.) In the body only the comparison's right-hand
side changes, to ``$ck``, so the loop leaves after exactly ``chunk`` iterations; after
it, the original condition says whether to go round ``$again`` for the next chunk.

* gas is the same as charging every iteration (``chunk`` iterations charged, ``chunk``
  run), so it stays deterministic and exact (only a trap inside the body, which ends the
  call, leaves the rest of its chunk charged);
* ``K * cost <= CHUNK_GAS`` (16 refills' worth, about a million instructions, well under
  a millisecond): a timeout lands at most that late in a hoisted loop;
* when the count cannot be proven (a step of zero, a bound near the top of the integer
  range where ``$x`` could wrap, a distance that the step does not divide for ``!=``),
  ``chunk`` is 1: the loop is charged per iteration, slowly but correctly.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._binary import _leb, _Reader
from ._opcodes import BLOCK_VALTYPES, Instr, branch_labels, sleb

__all__ = ["Counted", "find_counted", "plan"]

_GET, _SET, _TEE, _CONST, _ADD = 0x20, 0x21, 0x22, 0x41, 0x6A
_CMPS = {0x47: "ne", 0x48: "lt_s", 0x49: "lt_u"}
_CMP_OP = {"ne": 0x47, "lt_s": 0x48, "lt_u": 0x49}


@dataclass(frozen=True)
class Counted:
    """One counted loop. ``step``/``bound`` are ``("const", v)`` or ``("local", index)``;
    ``bound`` is ``("const", 0)`` for the ``$x != 0`` form (``compare_at`` is then the
    ``br_if``, where ``local.get $ck; i32.ne`` goes in; else the bound instruction, which
    ``local.get $ck`` replaces, ``compare_len`` bytes)."""

    x: int
    step: tuple[str, int]
    bound: tuple[str, int]
    cmp: str
    compare_at: int
    compare_len: int
    implicit: bool  # the ``$x != 0`` form: no comparison in the original

    def body_edit(self, ck: int) -> bytes:
        if self.implicit:
            return b"\x20" + _leb(ck) + b"\x47"
        return b"\x20" + _leb(ck)

    def _get(self, what: tuple[str, int]) -> bytes:
        return b"\x20" + _leb(what[1]) if what[0] == "local" else b"\x41" + sleb(what[1])

    def head(self, ck: int, m: int, n: int, k: int) -> bytes:
        """Leaves ``chunk`` (i64) in local ``m`` and ``$x``'s value after it in ``ck``."""
        x, get_n, s = self._get(("local", self.x)), self._get(self.bound), self._get(self.step)
        lm, ln = _leb(m), _leb(n)
        ext = b"\xac" if self.cmp == "lt_s" else b"\xad"  # i64.extend_i32_s / _u
        cap = b"\x22" + lm + b"\x42" + sleb(k) + b"\x20" + lm + b"\x42" + sleb(k) + b"\x54\x1b"
        if self.cmp == "ne":  # const step, a power of two: chunk = distance / |C| if exact
            c = self.step[1]
            dist = (get_n + x) if c > 0 else (x + get_n)
            shift = abs(c).bit_length() - 1
            code = (dist + b"\x6b\xad\x22" + ln + b"\x42" + sleb(abs(c) - 1) + b"\x83\x50"
                    + b"\x20" + ln + b"\x42\x00\x52\x71"  # exact and not zero
                    + b"\x04\x7e\x20" + ln + b"\x42" + sleb(shift) + b"\x88" + cap
                    + b"\x05\x42\x01\x0b\x21" + lm)  # fmt: skip
        else:
            top = 1 << (31 if self.cmp == "lt_s" else 32)
            s64 = s + ext
            ok = get_n + ext + s64 + b"\x7c\x42" + sleb(top) + b"\x57"  # n + s <= top
            if self.step[0] == "local":  # and s > 0
                ok += s + b"\x41\x00" + (b"\x4a" if self.cmp == "lt_s" else b"\x47") + b"\x71"
            code = (ok + b"\x04\x7e"
                    + get_n + ext + x + ext + b"\x7d\x22" + ln + b"\x42\x00\x57"  # d <= 0
                    + b"\x04\x7e\x42\x01\x05\x20" + ln + s64 + b"\x7c\x42\x01\x7d" + s64
                    + b"\x80\x0b" + cap  # ceil(d / s), at most k
                    + b"\x05\x42\x01\x0b\x21" + lm)  # fmt: skip
        step32 = s if self.step[0] == "local" else b"\x41" + sleb(self.step[1])
        return code + x + b"\x20" + lm + b"\xa7" + step32 + b"\x6c\x6a\x21" + _leb(ck)

    def tail(self) -> bytes:
        """After the loop: go round ``$again`` while the original condition holds."""
        x = self._get(("local", self.x))
        if self.implicit:
            return x + b"\x0d\x00\x0b"
        return x + self._get(self.bound) + bytes([_CMP_OP[self.cmp], 0x0D, 0x00, 0x0B])


def _writes(body: bytes, instrs: list[Instr], lo: int, hi: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for at, op, _nxt in instrs[lo:hi]:
        if op in (_SET, _TEE):
            idx = _Reader(body, at + 1).u32()
            out[idx] = out.get(idx, 0) + 1
    return out


def _leaves(body: bytes, instrs: list[Instr], loop: int, end: int) -> bool:
    """Whether the loop can stop before its count runs out: a branch out of it, a
    ``return`` or a call (which may exit or trap). Such loops stay checked per iteration,
    so no gas is charged for iterations that do not run."""
    depth = 0
    for at, op, _nxt in instrs[loop + 1 : end]:
        if op in (0x02, 0x03, 0x04):
            depth += 1
        elif op == 0x0B:
            depth -= 1
        elif op in (0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15):
            return True
        elif op in (0x0C, 0x0D, 0x0E):
            r = _Reader(body, at + 1)
            labels = [r.u32() for _ in range(r.u32() + 1)] if op == 0x0E else [r.u32()]
            if any(lab > depth for lab in labels):
                return True
    return False


def _imm(body: bytes, ins: Instr) -> int:
    r = _Reader(body, ins[0] + 1)
    return r.s64() if ins[1] == _CONST else r.u32()


def find_counted(
    body: bytes, instrs: list[Instr], loop: int, end: int, back_edges: int
) -> Counted | None:
    """The counted shape of the loop at ``instrs[loop]`` whose ``end`` is ``instrs[end]``,
    or None. ``back_edges``: branches to the loop's label anywhere in it."""
    if back_edges != 1 or end - loop < 6 or body[instrs[loop][0] + 1] != 0x40:
        return None
    br = instrs[end - 1]
    if br[1] != 0x0D or body[br[0] + 1] != 0:
        return None
    tail = [ins[1] for ins in instrs[end - 7 : end - 1]]
    if tail[-1] in _CMPS and len(tail) == 6:
        get_x, step, add, tee, bound, cmp_ins = instrs[end - 7 : end - 1]
        implicit = False
    else:
        get_x, step, add, tee = instrs[end - 5 : end - 1]
        bound = cmp_ins = br
        implicit = True
    if get_x[1] != _GET or add[1] != _ADD or tee[1] != _TEE or step[1] not in (_GET, _CONST):
        return None
    x = _imm(body, get_x)
    if _imm(body, tee) != x:
        return None
    cmp = "ne" if implicit else _CMPS[cmp_ins[1]]
    if implicit:
        bound_v = ("const", 0)
    elif bound[1] in (_GET, _CONST):
        bound_v = ("local" if bound[1] == _GET else "const", _imm(body, bound))
    else:
        return None
    step_v = ("local" if step[1] == _GET else "const", _imm(body, step))
    if _leaves(body, instrs, loop, end):
        return None
    writes = _writes(body, instrs, loop + 1, end)
    if writes.get(x) != 1:
        return None
    for what in (step_v, bound_v):
        if what[0] == "local" and (what[1] == x or writes.get(what[1])):
            return None
    if cmp == "ne":  # exact division by a power of two, a constant step
        c = step_v[1]
        if step_v[0] != "const" or c == 0 or abs(c) & (abs(c) - 1) or abs(c) > 1 << 16:
            return None
    elif step_v[0] == "const" and not 0 < step_v[1] < 1 << 16:
        return None
    at = br[0] if implicit else bound[0]
    length = 0 if implicit else bound[2] - bound[0]
    return Counted(x, step_v, bound_v, cmp, at, length, implicit)


def plan(body: bytes, instrs: list[Instr]) -> dict[int, tuple[str, Counted | None]]:
    """Each loop's way of being charged, by its instruction index: ``("counted", shape)``,
    ``("line", None)`` (checked at its header, refill out of line) or ``("header", None)``
    (checked at its header, refill inline: a ``br_table`` jumps back to it, or its block
    type takes parameters)."""
    stack: list[int] = []
    back: dict[int, int] = {}
    table_targets: set[int] = set()
    plan: dict[int, tuple[str, Counted | None]] = {}
    for i, ins in enumerate(instrs):
        op = ins[1]
        if op in (0x0C, 0x0D, 0x0E):
            for lab in branch_labels(body, ins):
                if lab < len(stack) and instrs[stack[-1 - lab]][1] == 0x03:
                    back[stack[-1 - lab]] = back.get(stack[-1 - lab], 0) + 1
                    if op == 0x0E:
                        table_targets.add(stack[-1 - lab])
        elif op in (0x02, 0x03, 0x04):
            stack.append(i)
        elif op == 0x0B and stack:
            j = stack.pop()
            if instrs[j][1] != 0x03:
                continue
            shape = find_counted(body, instrs, j, i, back.get(j, 0))
            if shape is not None:
                plan[j] = ("counted", shape)
            elif j in table_targets or body[instrs[j][0] + 1] not in BLOCK_VALTYPES:
                plan[j] = ("header", None)
            else:
                plan[j] = ("line", None)
    return plan
