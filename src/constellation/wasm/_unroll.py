"""Short data-dependent loops unrolled before metering: one gas check for several turns.

A loop the meter cannot count ahead (:mod:`._counted`: the trip count depends on the
data, a JSON parser's character loops say) pays a subtract and a branch at its header on
every turn; on a body of eight instructions that is a quarter more work. Here such a
loop's body is repeated :data:`FACTOR` times inside the loop, so the header (and its
check) comes once per :data:`FACTOR` turns. Each copy but the last ends by leaving the
loop, as falling off a loop's body does; a branch back to the loop's header in any copy
goes on to the next copy, and in the last one back to the header::

    block $exit                    ;; labels added around the copies
      loop $L
        block $c1 block $c2 block $c3
          copy 1   br $exit        ;; "br $L" in copy 1 -> end of $c3: copy 2 runs
        end copy 2 br $exit
        end copy 3 br $exit
        end copy 4                 ;; "br $L" here is the loop's own back edge
      end
    end

The program computes exactly what it did. Gas stays deterministic (the same call, the
same gas): the header's segment now holds every copy and is charged whole when entered,
so a loop that ends after its first copy is charged for all of them, as any segment left
early is (at most ``FACTOR - 1`` bodies more per loop entry).

Only *leaf* loops are unrolled: an empty block type, no loop inside, no call, no
``br_table`` back to the header, at most :data:`MAX_BODY` instructions; so the code
grows by a bounded amount per loop, and what the meter saves and reloads around calls
is not copied.
"""

from __future__ import annotations

from ._binary import _leb
from ._counted import plan
from ._opcodes import CALLS, TAIL_CALLS, Instr, branch_labels, instructions

__all__ = ["FACTOR", "MAX_BODY", "unroll_leaf_loops"]

FACTOR = 4  # copies of the body per header check
MAX_BODY = 48  # instructions: bigger bodies have proportionally cheaper checks
_CALLS = CALLS | TAIL_CALLS
_OPENS = {0x02, 0x03, 0x04}
_BRANCHES = {0x0C, 0x0D, 0x0E}


def _leaf_end(instrs: list[Instr], j: int) -> int | None:
    """The index of loop ``j``'s ``end`` when it is a leaf loop short enough, else None."""
    depth = 0
    for i in range(j + 1, len(instrs)):
        op = instrs[i][1]
        if op == 0x03 or op in _CALLS:
            return None
        if op in _OPENS:
            depth += 1
        elif op == 0x0B:
            if depth == 0:
                return i if i - j - 1 <= MAX_BODY else None
            depth -= 1
    return None


def _copy(body: bytes, instrs: list[Instr], first: int, last: int, outer_shift: int) -> bytes:
    """Instructions ``first``..``last`` (a loop's body) with every branch to a label
    outside the loop moved ``outer_shift`` labels further out."""
    out = bytearray()
    depth = 0  # blocks opened inside the body so far
    for ins in instrs[first : last + 1]:
        at, op, nxt = ins
        if op in _BRANCHES:
            labels = [lab + outer_shift if lab > depth else lab for lab in branch_labels(body, ins)]
            out.append(op)
            if op == 0x0E:
                out += _leb(len(labels) - 1)
            out += b"".join(_leb(lab) for lab in labels)
        else:
            out += body[at:nxt]
        if op in _OPENS:
            depth += 1
        elif op == 0x0B:
            depth -= 1
    return bytes(out)


def _unrolled(body: bytes, instrs: list[Instr], j: int, end: int, factor: int) -> bytes:
    first, last = j + 1, end - 1
    out = bytearray(b"\x02\x40\x03\x40" + b"\x02\x40" * (factor - 1))
    for copy in range(1, factor):
        shift = factor - copy + 1  # the blocks still open around this copy, $L and $exit
        out += _copy(body, instrs, first, last, shift) + b"\x0c" + _leb(shift) + b"\x0b"
    out += _copy(body, instrs, first, last, 1) + b"\x0b\x0b"
    return bytes(out)


def unroll_leaf_loops(body: bytes, start: int, factor: int | None = None) -> bytes:
    """``body`` (a function body whose code starts at ``start``) with each short leaf loop
    that the meter would check at its header unrolled ``factor`` (:data:`FACTOR`) times."""
    factor = FACTOR if factor is None else factor
    if factor < 2:
        return body
    instrs = instructions(body, start)
    kinds = plan(body, instrs)
    out = bytearray()
    prev = 0
    for j in sorted(kinds):
        at = instrs[j][0]
        if kinds[j][0] != "line" or body[at + 1] != 0x40 or at < prev:
            continue
        end = _leaf_end(instrs, j)
        if end is None:
            continue
        out += body[prev:at] + _unrolled(body, instrs, j, end, factor)
        prev = instrs[end][2]
    if prev == 0:
        return body
    return bytes(out + body[prev:])
