"""Redis Streams: queue triggers (a consumer group) and event-stream subscriptions.

Queue semantics on a stream key: every runner of a queue trigger reads with ``XREADGROUP``
in one consumer group (``group``: the function's id when the platform attaches the
trigger, so each function sees every message; runners that share a group share its
messages). Success: ``XACK`` (acks from concurrent deliveries are sent together); the
entries every group of the stream has acked are trimmed (:data:`_TRIM`, one script:
``XTRIM MINID`` below the lowest entry some group still needs) with an ack batch at most
every :data:`TRIM_EVERY_S`, and by the fetch loop and ``close`` when acks are left. Failure: the entry stays pending and its idle time
is set (``XCLAIM ... IDLE ... JUSTID``, which does not count a delivery) so that
``XAUTOCLAIM`` reclaims it ``retry_delay_s`` later; an entry whose consumer died is
reclaimed once it has been idle for ``visibility_timeout_s``. After ``max_deliveries`` the
entry is copied to the dead-letter stream (with ``error``, ``origin_id`` and
``deliveries`` fields) and acked, in one MULTI/EXEC.

A message published by :func:`redis_publish` is one field, ``data``, holding JSON; entries
written by other tools arrive as a dict of their fields.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import orjson
import redis

from ._errors import BrokerError, BrokerUnavailableError
from ._source import Delivery, GroupCommit, Source
from ._sqlite import encode

__all__ = [
    "RedisQueueSource",
    "RedisStreamSource",
    "redis_client",
    "redis_peek",
    "redis_publish",
]

# Trim the entries of a stream that every consumer group is done with: below the lowest
# pending entry of any group, and after no group's last-delivered entry. A stream without
# groups is left alone. Returns how many entries went.
_TRIM = """
local function parse(id)
  local dash = string.find(id, '-')
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local low_ms, low_seq = nil, nil
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  local ms, seq
  if tonumber(info['pending']) > 0 then
    ms, seq = parse(redis.call('XPENDING', KEYS[1], info['name'])[2])
  else
    ms, seq = parse(info['last-delivered-id'])
    seq = seq + 1
  end
  if low_ms == nil or ms < low_ms or (ms == low_ms and seq < low_seq) then
    low_ms, low_seq = ms, seq
  end
end
if low_ms == nil then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-%d', low_ms, low_seq))
"""

TRIM_EVERY_S = 0.1  # an ack batch trims at most this often (the script reads every group)

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_client(url: str) -> redis.Redis:
    """One client (a thread-safe connection pool) per URL, shared by the process."""
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(
                url, socket_connect_timeout=2.0, health_check_interval=30
            )
        return client


def _unavailable(url: str, exc: Exception) -> BrokerUnavailableError:
    return BrokerUnavailableError("redis", url, exc)


def redis_publish(url: str, stream: str, message: Any) -> str:
    """``XADD stream * data <json>``; returns the entry id."""
    data = encode(message)
    try:
        entry_id = redis_client(url).xadd(stream, {"data": data})
    except redis.ConnectionError as exc:
        raise _unavailable(url, exc) from None
    except redis.ResponseError as exc:
        raise BrokerError(f"redis refused XADD to {stream!r}: {exc}") from None
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def redis_peek(url: str, stream: str, limit: int) -> list[dict[str, Any]]:
    """The entries of ``stream``, oldest first (``XRANGE``)."""
    try:
        entries: Any = redis_client(url).xrange(stream, count=limit)
    except redis.ConnectionError as exc:
        raise _unavailable(url, exc) from None
    out = []
    for entry_id, fields in entries:
        error = fields.get(b"error")
        out.append(
            {
                "id": entry_id.decode(),
                "body": decode_fields(fields),
                "deliveries": int(fields.get(b"deliveries", b"0")),
                "error": error.decode() if error else None,
            }
        )
    return out


def decode_fields(fields: dict[bytes, bytes]) -> Any:
    if b"data" in fields:
        return orjson.loads(fields[b"data"])
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}


def _create_group(client: redis.Redis, url: str, stream: str, group: str, start: str) -> None:
    try:
        client.xgroup_create(stream, group, id=start, mkstream=True)
    except redis.ConnectionError as exc:
        raise _unavailable(url, exc) from None
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):  # an existing group keeps its position
            raise BrokerError(f"redis refused XGROUP CREATE on {stream!r}: {exc}") from None


class RedisDelivery(Delivery):
    __slots__ = ("_source",)

    def __init__(self, source: _RedisSource, entry_id: str, deliveries: int, event: Any) -> None:
        super().__init__(entry_id, deliveries, event)
        self._source = source

    def ack(self) -> None:
        self._source.acks.add(self.message_id)

    def nak(self, delay_s: float) -> None:
        s = self._source
        if not s.delete_on_ack:
            return  # an ordered stream re-reads its own pending entries on restart
        # Pretend the entry has been idle for (visibility - delay): XAUTOCLAIM takes it
        # after ``delay_s``. JUSTID leaves the delivery counter alone.
        idle_ms = max(0, int((s.visibility_s - delay_s) * 1000))
        s.client.xclaim(s.key, s.group, s.consumer, 0, [self.message_id], idle=idle_ms, justid=True)

    def extend(self) -> None:
        s = self._source  # XCLAIM resets the idle time; JUSTID does not count a delivery
        s.client.xclaim(s.key, s.group, s.consumer, 0, [self.message_id], idle=0, justid=True)

    def dead_letter(self, reason: str) -> None:
        s = self._source
        fields = {
            "data": orjson.dumps(self.event.get("body")).decode(),
            "error": reason,
            "origin_id": self.message_id,
            "deliveries": str(self.deliveries),
        }
        pipe = s.client.pipeline(transaction=True)
        pipe.xadd(s.dead_letter, fields)
        pipe.xack(s.key, s.group, self.message_id)
        if s.delete_on_ack:
            s.trim(keys=[s.key], client=pipe)
        pipe.execute()


class _RedisSource(Source):
    kind = "queue"
    delete_on_ack = True

    def __init__(self, spec: dict[str, Any], key: str, group: str, dead_letter: str) -> None:
        self.url: str = spec["url"]
        self.key = key
        self.group = group
        self.dead_letter = dead_letter
        self.visibility_s = float(spec["visibility_timeout_s"])
        self.consumer = f"c-{uuid.uuid4().hex[:12]}"
        self.client: Any = redis_client(self.url)  # redis-py's reply types are unions
        self.acks = GroupCommit(self._ack_many)
        self.trim = self.client.register_script(_TRIM)
        self._last_trim = 0.0
        self._untrimmed = False  # acks since the last trim

    def _ack_many(self, ids: list[str]) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.key, self.group, *ids)
        self._untrimmed = self.delete_on_ack
        if self.delete_on_ack and time.monotonic() - self._last_trim >= TRIM_EVERY_S:
            self._last_trim = time.monotonic()
            self._untrimmed = False
            self.trim(keys=[self.key], client=pipe)
        pipe.execute()

    def trim_acked(self) -> None:
        """Trim what every group acked, if acks came since the last trim (the fetch loop
        calls it when idle, ``close`` at the end: no acked entry is left for long)."""
        if self._untrimmed and time.monotonic() - self._last_trim >= TRIM_EVERY_S:
            self._last_trim = time.monotonic()
            self._untrimmed = False
            self.trim(keys=[self.key])

    def fetch(self, limit: int, wait_s: float) -> list[Delivery]:
        try:
            return self._fetch(limit, wait_s)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
        # The key or the group vanished (deleted, or Redis restarted without persistence):
        # make them again and carry on, rather than fail every poll from now on.
        self.start()
        return []

    def _fetch(self, limit: int, wait_s: float) -> list[Delivery]:
        raise NotImplementedError

    def _event(self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int) -> Delivery:
        eid = entry_id.decode()
        event = {
            "type": self.kind,
            "broker": "redis",
            self.kind: self.key,
            "message_id": eid,
            "delivery_count": deliveries,
            "published_at": int(eid.split("-")[0]) / 1000.0,
            "body": decode_fields(fields),
        }
        return RedisDelivery(self, eid, deliveries, event)

    def _times_delivered(self, entry_id: bytes) -> int:
        rows = self.client.xpending_range(self.key, self.group, entry_id, entry_id, 1)
        return int(rows[0]["times_delivered"]) if rows else 1

    def _read(self, stream_id: str, limit: int, block_ms: int | None) -> list[Delivery]:
        try:
            reply = self.client.xreadgroup(
                self.group, self.consumer, {self.key: stream_id}, count=limit, block=block_ms
            )
        except redis.ConnectionError as exc:
            raise _unavailable(self.url, exc) from None
        out: list[Delivery] = []
        for _key, entries in reply or ():
            for entry_id, fields in entries:
                if fields is None:  # deleted while pending
                    self.client.xack(self.key, self.group, entry_id)
                    continue
                count = 1 if stream_id == ">" else self._times_delivered(entry_id)
                out.append(self._event(entry_id, fields, count))
        return out


class RedisQueueSource(_RedisSource):
    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec, spec["queue"], spec["group"], spec["dead_letter"])
        self._cursor = "0-0"
        self._last_reclaim = 0.0
        self._reclaim_every = min(1.0, self.visibility_s / 2, max(0.05, spec["retry_delay_s"]))

    def start(self) -> None:
        _create_group(self.client, self.url, self.key, self.group, "0")

    def close(self) -> None:
        self._last_trim = 0.0
        try:
            self.trim_acked()
        except redis.RedisError:
            pass  # the next runner's acks trim them

    def _fetch(self, limit: int, wait_s: float) -> list[Delivery]:
        self.trim_acked()
        out: list[Delivery] = []
        if time.monotonic() - self._last_reclaim >= self._reclaim_every:
            out = self._reclaim(limit)
        if len(out) < limit:
            block = None if out else max(1, int(wait_s * 1000))
            out += self._read(">", limit - len(out), block)
        return out

    def _reclaim(self, limit: int) -> list[Delivery]:
        """Entries pending longer than the visibility timeout (or nak'd and due) come here."""
        self._last_reclaim = time.monotonic()
        try:
            reply: Any = self.client.xautoclaim(
                self.key,
                self.group,
                self.consumer,
                int(self.visibility_s * 1000),
                start_id=self._cursor,
                count=limit,
            )
        except redis.ConnectionError as exc:
            raise _unavailable(self.url, exc) from None
        cursor, entries = reply[0], reply[1]
        self._cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        return [
            self._event(entry_id, fields, self._times_delivered(entry_id))
            for entry_id, fields in entries
            if fields is not None
        ]


class RedisStreamSource(_RedisSource):
    """An ordered subscription: its own consumer group and one fixed consumer, so entries
    delivered but not acked before a restart are read again first, in order."""

    kind = "stream"
    delete_on_ack = False

    def __init__(self, spec: dict[str, Any]) -> None:
        self._ephemeral = spec["name"] is None
        group = spec["name"] or f"sub-{uuid.uuid4().hex[:12]}"
        super().__init__(spec, spec["stream"], group, spec["stream"] + ".dlq")
        self.consumer = "ordered"
        self._start = spec["start"]
        self._backlog = True  # first our own pending entries ("0"), then new ones (">")

    def start(self) -> None:
        start = self._start
        if start == "latest":
            start_id = "$"
        elif start == "earliest":
            start_id = "0"
        else:  # entries at or after the timestamp: start just before its millisecond
            ms = int(float(start) * 1000)
            start_id = f"{ms - 1}-18446744073709551615" if ms > 0 else "0"
        _create_group(self.client, self.url, self.key, self.group, start_id)

    def _fetch(self, limit: int, wait_s: float) -> list[Delivery]:
        if self._backlog:
            out = self._read("0", limit, None)
            if out:
                return out
            self._backlog = False
        return self._read(">", limit, max(1, int(wait_s * 1000)))

    def close(self) -> None:
        if self._ephemeral:
            try:
                self.client.xgroup_destroy(self.key, self.group)
            except redis.RedisError:
                pass
