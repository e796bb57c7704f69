"""Gas and timeouts compiled into the module, at about the cost of a register decrement.

wasmtime's own fuel and epoch checks cost 30-40 % on tight loops here (each loop header
loads the epoch through two pointers and the fuel counter lives in memory between
blocks). This rewrite keeps both jobs in one counter, the way wasmtime bounds its own
fuel checks (charge at loop headers and function entries only, a whole block's cost at
once) but with the counter in a *local*, which Cranelift keeps in a register:

* every function gets a local ``$slice`` (i32): gas left in the current slice. At entry
  and at every loop header it is charged the static instruction count of the code up to
  the next charge point (``slice -= cost; if slice < 0: refill``): one subtract and one
  predictable branch per loop iteration;
* a loop's refill is out of line: the loop is wrapped in ``block $done loop $again block
  $refill`` and its header check branches out to ``$refill`` (after the loop), which
  refills, gives the iteration's charge back and re-enters through ``$again``. The hot
  path is then one subtract and one *not-taken* branch (an inline ``if`` put the refill
  code in the loop and made the hot path jump over it every iteration; on matmul that
  was most of the cost). The refill moves up to :data:`SLICE` gas from the *bank* into
  the slice, with no call (a call there makes Cranelift spill the loop's registers); when
  the bank is empty it sets the stop flag and calls the host's stop function (through a
  one-entry table, ``__cst_stop``, so no function index moves), which raises the trap.
  Nothing runs after that call; and the trap is raised by the host, not by a signal, so
  it works in a process whose fault handlers belong to someone else (Ray's core worker
  installs its own, and a wasm ``unreachable`` then kills the process). A function's
  entry check goes out of line the same way (its body wrapped like a loop's, so a
  refill re-enters the body from the top), except in functions with more than one
  result, which keep it inline;
* a short data-dependent leaf loop is first unrolled four times (:mod:`._unroll`), so
  its header check comes once per four turns;
* a counted loop (``x += step; br_if x != / < bound`` at the end, nothing leaving it
  early) has no check in its body at all: it is charged per chunk of up to
  :data:`CHUNK_GAS` worth of iterations before the chunk runs (:mod:`._counted`), with
  exactly the gas per-iteration charging gives;
* the bank and the slice live in a private one-page memory (index after the module's own
  memories, exported as ``__cst_meter``; the module's code cannot name it), so the host
  sets a call's budget and reads the gas used with plain stores and loads through a
  pointer, no call into the engine; the slice is saved there before calls and exits and
  reloaded after calls;
* a timeout is the host's watchdog emptying the bank: the running call stops at its next
  refill, at most :data:`SLICE` gas later, or :data:`CHUNK_GAS` in a counted loop (well
  under a millisecond either way).

Gas is deterministic: the same call with the same input uses the same gas. It counts
instructions per straight-line segment (a segment's cost is charged when it is entered,
so a branch out of a segment early is charged the whole segment).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._binary import FormatError, _leb, _Reader, _sections, parse_layout
from ._counted import plan
from ._opcodes import CALLS, TAIL_CALLS, branch_labels, instructions
from ._opcodes import sleb as _sleb
from ._peephole import edits as peephole_edits
from ._unroll import unroll_leaf_loops

__all__ = ["BANK", "FLAG", "INIT_GAS", "METER_EXPORT", "METER_VERSION", "SLICE", "SLICE_OFFSET",
           "STOP_EXPORT", "meter_module"]  # fmt: skip

METER_VERSION = "meter-10"  # part of the compile cache key: bump when the rewrite changes
METER_EXPORT = "__cst_meter"
STOP_EXPORT = "__cst_stop"
BANK, SLICE_OFFSET, FLAG = 0, 8, 16  # byte offsets in the meter memory
SLICE = 1 << 16  # gas moved from the bank per refill: bounds how late a timeout lands
CHUNK_GAS = 16 * SLICE  # the most a counted loop is charged at once (see _counted)
INIT_GAS = 1 << 34  # the bank at instantiation: a start function is bounded too


@dataclass(frozen=True)
class _Code:
    """Byte snippets for one function: ``mem`` is the meter memory's index, ``local`` the
    first of the three locals added to the function (slice i32, then two i64 scratch)."""

    mem: int
    local: int
    stop_type: int
    stop_table: int

    def _ma(self, align: int, offset: int) -> bytes:
        if self.mem == 0:
            return bytes([align]) + _leb(offset)
        return bytes([align | 0x40]) + _leb(self.mem) + _leb(offset)

    def check(self, cost: int, label: int) -> bytes:
        """``slice -= cost``; below zero, branch to ``label`` (the loop's refill block,
        laid out after the loop, so the hot path falls through)."""
        g = _leb(self.local)
        return (b"\x20" + g + b"\x41" + _sleb(cost) + b"\x6b\x22" + g
                + b"\x41\x00\x48\x0d" + _leb(label))  # fmt: skip

    def refill(self) -> bytes:
        """Move up to :data:`SLICE` gas from the bank into the slice until it is not
        negative; with the bank empty, set the stop flag and call the host's stop. No call
        into a function (a call in a loop makes Cranelift spill the loop's registers)."""
        g, m, n = _leb(self.local), _leb(self.local + 1), _leb(self.local + 2)
        s = _sleb(SLICE)
        return (
            b"\x03\x40"
            + b"\x41\x00\x29" + self._ma(3, BANK) + b"\x22" + m  # m = bank
            + b"\x42\x00\x57\x04\x40\x41\x00\x41\x01\x36" + self._ma(2, FLAG)
            + b"\x41\x00\x11" + _leb(self.stop_type) + _leb(self.stop_table)
            + b"\x00\x0b"  # if m <= 0: flag = 1, call the host's stop, (unreachable)
            + b"\x20" + m + b"\x42" + s + b"\x7d\x42\x00\x20" + m + b"\x42" + s
            + b"\x55\x1b\x21" + n  # n = max(m - SLICE, 0)
            + b"\x41\x00\x20" + n + b"\x37" + self._ma(3, BANK)  # bank = n
            + b"\x20" + g + b"\x20" + m + b"\x20" + n + b"\x7d\xa7\x6a\x22" + g
            + b"\x41\x00\x48\x0d\x00\x0b"  # slice += m - n; again while < 0
        )  # fmt: skip

    def charge(self, cost: int) -> bytes:
        """Inline: ``slice -= cost``; below zero, refill (once per call, at entry)."""
        g = _leb(self.local)
        return (b"\x20" + g + b"\x41" + _sleb(cost) + b"\x6b\x22" + g
                + b"\x41\x00\x48\x04\x40" + self.refill() + b"\x0b")  # fmt: skip

    def charge_chunk(self, cost: int) -> bytes:
        """``slice -= chunk * cost`` (``chunk``: the i64 scratch local); refill inline."""
        g = _leb(self.local)
        return (b"\x20" + g + b"\x20" + _leb(self.local + 1) + b"\xa7\x41" + _sleb(cost)
                + b"\x6c\x6b\x22" + g + b"\x41\x00\x48\x04\x40" + self.refill() + b"\x0b")  # fmt: skip

    def loop_head(self, blocktype: bytes) -> bytes:
        """Before a loop: ``block $done (bt) loop $again (bt) block $refill``."""
        return b"\x02" + blocktype + b"\x03" + blocktype + b"\x02\x40"

    def loop_tail(self, cost: int) -> bytes:
        """After the loop's ``end``: leave through ``$done``; ``$refill`` refills, gives
        back the iteration's charge (it is charged again on re-entry) and re-enters."""
        g = _leb(self.local)
        return (b"\x0c\x02\x0b" + self.refill()
                + b"\x20" + g + b"\x41" + _sleb(cost) + b"\x6a\x21" + g
                + b"\x0c\x00\x0b\x0b")  # fmt: skip

    def save(self) -> bytes:
        return b"\x41\x00\x20" + _leb(self.local) + b"\x36" + self._ma(2, SLICE_OFFSET)

    def load(self) -> bytes:
        return b"\x41\x00\x28" + self._ma(2, SLICE_OFFSET) + b"\x21" + _leb(self.local)


_BLOCKTYPE = {"i32": b"\x7f", "i64": b"\x7e", "f32": b"\x7d", "f64": b"\x7c"}
_WRAPS = {"line": 3, "counted": 1, "header": 0}  # labels each kind adds around its loop


def _meter_body(
    body: bytes, n_locals_before: int, mem: int, stop: tuple[int, int], results: bytes | None
) -> bytes:
    """``results``: the function's block type (0x40 or one value type) when its entry
    check can go out of line like a loop's (the body wrapped the same way), else None."""
    r = _Reader(body)
    groups = r.u32()
    groups_end = r.pos
    declared = 0
    for _ in range(groups):
        declared += r.u32()
        r.valtype()
    decl_end = r.pos
    body = unroll_leaf_loops(body, decl_end)  # one header check per FACTOR turns
    code = _Code(mem, n_locals_before + declared, *stop)
    instrs = instructions(body, decl_end)
    loops = plan(body, instrs)
    counted = [i for i in sorted(loops) if loops[i][0] == "counted"]
    ck = {i: code.local + 3 + k for k, i in enumerate(counted)}  # each its own $ck local
    # (position, bytes of the original replaced, bytes, or a segment whose cost the
    # bytes need: (kind, segment)) edits, in order of position.
    edits: list[tuple[int, int, bytes | tuple[str, int, int]]] = [(decl_end, 0, ("entry", 0, 0))]
    costs = [0]
    stack: list[tuple[int, str]] = []  # open blocks: (instruction index, loop kind or "")
    ends: dict[int, int] = {}  # a loop's instruction index -> its segment
    for i, (at, op, nxt) in enumerate(instrs):
        depth = len(stack)
        costs[-1] += 1
        if op == 0x0B and i == len(instrs) - 1:  # the function's own end: save the slice
            if results is not None:
                edits.append((at, 0, ("entry_tail", 0, 0)))
            edits.append((at, 0, code.save()))
            break
        if op in CALLS or op in TAIL_CALLS or op == 0x0F:
            edits.append((at, 0, code.save()))
        if op in (0x0C, 0x0D, 0x0E):
            labels = branch_labels(body, (at, op, nxt))
            if depth in labels:
                edits.append((at, 0, code.save()))
            extra = [sum(_WRAPS[k] for _, k in stack[depth - lab :] if k)
                     + (3 if lab == depth and results is not None else 0) for lab in labels]  # fmt: skip
            if any(extra):
                new = [lab + x for lab, x in zip(labels, extra, strict=True)]
                enc = (_leb(len(new) - 1) if op == 0x0E else b"") + b"".join(map(_leb, new))
                edits.append((at + 1, nxt - at - 1, enc))
        if op in (0x02, 0x04):
            stack.append((i, ""))
        elif op == 0x03:
            kind, shape = loops.get(i, ("header", None))
            costs.append(0)
            seg = len(costs) - 1
            ends[i] = seg
            stack.append((i, kind))
            if kind == "line":
                edits.append((at, 0, code.loop_head(body[at + 1 : nxt])))
                edits.append((nxt, 0, ("check", seg, 0)))
            elif kind == "counted":
                assert shape is not None
                edits.append((at, 0, ("counted", seg, i)))
                edits.append((shape.compare_at, shape.compare_len, shape.body_edit(ck[i])))
            else:
                edits.append((nxt, 0, ("charge", seg, 0)))
        elif op == 0x0B:
            j, kind = stack.pop()
            if kind == "line":
                edits.append((nxt, 0, ("tail", ends[j], 0)))
            elif kind == "counted":
                shape = loops[j][1]
                assert shape is not None
                edits.append((nxt, 0, shape.tail()))
        elif op in CALLS:  # control comes back here: reload the slice
            edits.append((nxt, 0, code.load()))
    # Multiplies by 3, 5, 9 as shift-and-add (._peephole), appended last: an insertion
    # at the same position (a check after a loop header) goes before the replacement.
    edits.extend(peephole_edits(body, instrs))
    edits.sort(key=lambda e: e[0])  # stable: edits at one position keep their order
    out = bytearray(_leb(groups + 2 + bool(counted)))
    out += body[groups_end:decl_end] + b"\x01\x7f\x02\x7e"
    if counted:
        out += _leb(len(counted)) + b"\x7f"
    prev = decl_end
    for pos, replaced, what in edits:
        out += body[prev:pos]
        prev = pos + replaced
        if isinstance(what, bytes):
            out += what
            continue
        kind, seg, i = what
        cost = max(costs[seg], 1)
        if kind == "entry" and results is not None:  # out of line, like a loop's
            out += code.load() + code.loop_head(results) + code.check(cost, 0)
        elif kind == "entry":
            out += code.load() + code.charge(cost)
        elif kind == "entry_tail":
            out += code.loop_tail(cost)
        elif kind == "charge":
            out += code.charge(cost)
        elif kind == "check":
            out += code.check(cost, 1)
        elif kind == "tail":
            out += code.loop_tail(cost)
        else:  # a counted loop's head: loop $again, the chunk, its charge
            shape = loops[i][1]
            assert shape is not None
            m = code.local + 1
            out += b"\x03\x40" + shape.head(ck[i], m, m + 1, max(CHUNK_GAS // cost, 1))
            out += code.charge_chunk(cost)
    out += body[prev:]
    return bytes(out)


def meter_module(wasm: bytes) -> bytes:
    """``wasm`` with the slice/bank counter (see the module doc); FormatError if it cannot."""
    layout = parse_layout(wasm)
    secs = _sections(wasm)
    n_types = n_func_imports = n_mem_imports = n_mems = n_table_imports = n_tables = 0
    for sid, _h, start, end in secs:
        r = _Reader(wasm, start, end)
        if sid == 1:
            n_types = r.u32()
        elif sid == 2:
            for _ in range(r.u32()):
                r.name()
                r.name()
                kind = r.byte()
                if kind in (0, 4):
                    if kind == 4:
                        r.byte()
                    r.u32()
                    n_func_imports += kind == 0
                elif kind == 1:
                    r.valtype()
                    r.limits()
                    n_table_imports += 1
                elif kind == 2:
                    flags = r.byte()
                    r.u32()
                    if flags & 1:
                        r.u32()
                    if flags & 4:
                        raise FormatError("memory64 cannot be metered")
                    n_mem_imports += 1
                elif kind == 3:
                    r.valtype()
                    r.byte()
        elif sid == 4:
            n_tables = r.u32()
        elif sid == 5:
            n_mems = r.u32()
    mem = n_mem_imports + n_mems
    stop = (n_types, n_table_imports + n_tables)
    name = METER_EXPORT.encode()
    stop_name = STOP_EXPORT.encode()
    bank = INIT_GAS.to_bytes(8, "little")
    if mem == 0:
        segment = b"\x00\x41\x00\x0b" + _leb(len(bank)) + bank
    else:
        segment = b"\x02" + _leb(mem) + b"\x41\x00\x0b" + _leb(len(bank)) + bank
    additions = {
        1: b"\x60\x00\x00",  # () -> (): the host's stop function
        4: b"\x70\x00\x01",  # a funcref table of one: the host puts its stop function there
        5: b"\x01\x01\x01",  # one page, never grows: its address is stable
        7: _leb(len(name))
        + name
        + b"\x02"
        + _leb(mem)
        + _leb(len(stop_name))
        + stop_name
        + b"\x01"
        + _leb(stop[1]),
        11: segment,
    }
    counts = {7: 2}  # items each addition adds (default 1)
    order = [1, 4, 5, 7, 11]
    rank = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 5.5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 9.5, 10: 10, 11: 11}
    out = bytearray(wasm[:8])
    present = {sid for sid, *_ in secs}

    def emit(sid: int, body: bytes) -> None:
        out.extend(bytes([sid]) + _leb(len(body)) + body)

    for sid, header, start, end in secs:
        for missing in order:  # sections we create go before the first later one
            if missing not in present and sid != 0 and rank[missing] < rank.get(sid, 0):
                emit(missing, _leb(counts.get(missing, 1)) + additions[missing])
                present.add(missing)
        r = _Reader(wasm, start, end)
        if sid == 12:  # data count
            emit(12, _leb(r.u32() + 1))
        elif sid == 10:
            count = r.u32()
            items = bytearray()
            for i in range(count):
                size = r.u32()
                params, results = layout.signature(n_func_imports + i)
                bt = (
                    b"\x40"
                    if not results
                    else _BLOCKTYPE.get(results[0])
                    if len(results) == 1
                    else None
                )
                body = _meter_body(wasm[r.pos : r.pos + size], len(params), mem, stop, bt)
                r.pos += size
                items += _leb(len(body)) + body
            emit(10, _leb(count) + bytes(items))
        elif sid in additions:
            count = r.u32()
            emit(sid, _leb(count + counts.get(sid, 1)) + wasm[r.pos : end] + additions[sid])
        else:
            out += wasm[header:end]
    for missing in order:
        if missing not in present:
            emit(missing, _leb(counts.get(missing, 1)) + additions[missing])
    return bytes(out)
