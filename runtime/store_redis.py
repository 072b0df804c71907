"""RedisStore: the production store (Redis >= 7.0, one node or a Redis Cluster).

Every key of one player carries the hash tag {GAME:PLAYER}, so a commit touches one slot:
    rulesc:{GAME:PLAYER}:state        HASH, one field per top-level state field (JSON),
                                      plus "@version"
    rulesc:{GAME:PLAYER}:res:<id>     STRING, JSON [fingerprint, result], with expiry
    rulesc:{GAME:PLAYER}:rej          ZSET, the rejected ids remembered, scored by expiry
                                      (µs): past `max_rejections`, the soonest to expire
                                      are forgotten (their res keys deleted)
    rulesc:{GAME:PLAYER}:ledger       STREAM, one field "e" = JSON entry
    rulesc:{GAME:PLAYER}:push         pub/sub channel (PUBLISH, or SPUBLISH on Cluster)
    rulesc:{GAME:PLAYER}:here         ZSET, the server processes listening to the channel
                                      (redis_presence.py): a commit publishes only when
                                      another process than its own listens
    rulesc:{GAME:dev:DEVICE}          STRING, the device's player id (a key of its own)
A commit is one Lua script (one round trip, atomic); so is `remember` (results that change
nothing, under the same result keys and expiry). Result keys are built inside the
script from a prefix passed in KEYS: they are not declared one by one, which is still
cluster-safe because the prefix carries the player's hash tag, so every result key hashes
to the same slot as the declared keys.

Whether `url` names one node or a member of a Redis Cluster is found on first use (INFO
cluster), unless `cluster` says. One node: redis_links.SingleNode; a cluster:
redis_cluster.ClusterLink, which sends each command to the master of its key's slot and
uses sharded pub/sub. The commands and scripts are the same either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Awaitable
from typing import Any

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from .history import HISTORY_KEY, FeedItem, FeedStatus, Position, rejections_of
from .redis_cluster import ClusterLink
from .redis_history import ClusterFeeds, feed_items, feed_key_for, first_after, slot_feed_keys
from .redis_keys import Link, Script, key_part, player_prefix
from .redis_links import SingleNode, is_cluster, unavailable, unavailable_on_error
from .redis_presence import DEFAULT_RENEW_EVERY, DEFAULT_TTL, HERE_LUA, OTHERS_LISTEN_LUA, Presence
from .store import (
    DEFAULT_LEDGER_MAXLEN,
    DEFAULT_MAX_REJECTIONS,
    DEFAULT_REJECTION_TTL,
    DEFAULT_RESULT_TTL,
    Callback,
    CommitOutcome,
    Decided,
    Snapshot,
    Store,
    Subscription,
    check_commit_args,
    check_max_rejections,
    check_remember_args,
    new_player_id,
    push_message,
)
from .store_redis_social import RedisSocial

log = logging.getLogger(__name__)

VERSION_FIELD = b"@version"

# Rejections are remembered briefly and counted (see store.py): each script that writes
# rejected results indexes them and forgets the soonest to expire past the cap.
KEEP_REJECTIONS_LUA = """
-- Scores are expiries in microseconds (exact in a double), one apart within a write so
-- the oldest go first; formatted by hand, as Lua would write them with 14 digits.
local function keep_rejections(index, prefix, ids, ttl, cap)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  redis.call('ZREMRANGEBYSCORE', index, '-inf', string.format('%.0f', now))  -- expired
  local expiry = now + tonumber(ttl) * 1000
  for i, id in ipairs(ids) do
    redis.call('ZADD', index, string.format('%.0f', expiry + i), id)
  end
  local extra = redis.call('ZCARD', index) - tonumber(cap)
  if extra > 0 then
    local gone = redis.call('ZPOPMIN', index, extra)
    for i = 1, #gone, 2 do redis.call('DEL', prefix .. gone[i]) end
  end
  redis.call('PEXPIRE', index, ttl)  -- no member outlives it
end
"""

# Reads and checks first, then writes: a failed check returns before any write, and Redis
# does not deny writes for OOM once a script has written, so a commit is all or nothing.
COMMIT_LUA = (
    OTHERS_LISTEN_LUA
    + KEEP_REJECTIONS_LUA
    + """
-- KEYS: 1 state hash, 2 result key prefix, 3 ledger stream, 4 push channel,
--   5 the processes listening to the player's pushes (redis_presence.py),
--   6 the index of remembered rejections, 7 (with the history sink on) the history stream
-- ARGV: 1 expected version, 2 result ttl (ms), 3 ledger maxlen, 4 publish command or '',
--   5 '1' to replace the whole state, 6 n decided, 7 m field writes, 8 this process's id,
--   9 rejection ttl (ms), 10 max rejections remembered,
--   then n x (action id, JSON [fingerprint, result], JSON ledger entry or '' for a
--   rejection),
--   then m x (field, JSON value, or '' to delete the field),
--   then the JSON array of the decided results (for the push message),
--   then (with KEYS[7]) game, player, JSON [[action, reason], ...] of the rejections
-- Returns {'ok', version, 1 if published else 0, event ids...}, or as REMEMBER_LUA.
local n, m = tonumber(ARGV[6]), tonumber(ARGV[7])
local d, f = 10, 10 + 3 * n
local version = tonumber(redis.call('HGET', KEYS[1], '@version') or '0')
local seen = {'seen', version}
for i = 0, n - 1 do
  local id = ARGV[d + 3 * i + 1]
  local stored = redis.call('GET', KEYS[2] .. id)
  if stored then
    seen[#seen + 1] = id
    seen[#seen + 1] = stored
  end
end
if #seen > 2 then return seen end
if version ~= tonumber(ARGV[1]) then return {'conflict', version} end

if ARGV[5] == '1' then redis.call('DEL', KEYS[1]) end
for j = 0, m - 1 do
  local name, value = ARGV[f + 2 * j + 1], ARGV[f + 2 * j + 2]
  if value == '' then
    redis.call('HDEL', KEYS[1], name)
  else
    redis.call('HSET', KEYS[1], name, value)
  end
end
version = version + 1
redis.call('HSET', KEYS[1], '@version', version)

local out, ids, entries, rejected, fed = {'ok', version, 0}, {}, {}, {}, {}
for i = 0, n - 1 do
  local id, stored, entry = ARGV[d + 3 * i + 1], ARGV[d + 3 * i + 2], ARGV[d + 3 * i + 3]
  if entry ~= '' then
    redis.call('SET', KEYS[2] .. id, stored, 'PX', ARGV[2])
    local eid = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'e', entry)
    out[#out + 1] = eid
    ids[#ids + 1] = '"' .. eid .. '"'
    entries[#entries + 1] = entry
    if KEYS[7] then fed[#fed + 1] = '["' .. eid .. '",' .. entry .. ']' end
  else
    redis.call('SET', KEYS[2] .. id, stored, 'PX', ARGV[9])
    rejected[#rejected + 1] = id
  end
end
if #rejected > 0 then keep_rejections(KEYS[6], KEYS[2], rejected, ARGV[9], ARGV[10]) end
-- the history sink's feed (runtime/history.py): one append for the whole commit
if KEYS[7] then
  local g = f + 2 * m + 1
  redis.call('XADD', KEYS[7], '*', 'g', ARGV[g + 1], 'p', ARGV[g + 2],
    'e', '[' .. table.concat(fed, ',') .. ']', 'r', ARGV[g + 3])
end
-- the committing process pushes to its own connections itself
if ARGV[4] ~= '' and others_listen(KEYS[5], ARGV[8]) then
  redis.call(ARGV[4], KEYS[4], '{"version":' .. version .. ',"decided":' .. ARGV[f + 2 * m + 1]
    .. ',"event_ids":[' .. table.concat(ids, ',') .. '],"ledger":['
    .. table.concat(entries, ',') .. ']}')
  out[3] = 1
end
return out
"""
)

# The commit's checks, then only the results: state, version and ledger are not touched.
# SET NX as well, though the check above already found none of the ids: the first
# decision of an id is never overwritten.
REMEMBER_LUA = (
    KEEP_REJECTIONS_LUA
    + """
-- KEYS: 1 state hash, 2 result key prefix, 3 the index of remembered rejections,
--   4 (with the history sink on) the history stream
-- ARGV: 1 expected version, 2 rejection ttl (ms), 3 max rejections remembered,
--   4 game, 5 player, 6 JSON [[action, reason], ...] (for the history; '' without it),
--   then n x (action id, JSON [fingerprint, result])
local version = tonumber(redis.call('HGET', KEYS[1], '@version') or '0')
local seen = {'seen', version}
for i = 7, #ARGV, 2 do
  local stored = redis.call('GET', KEYS[2] .. ARGV[i])
  if stored then
    seen[#seen + 1] = ARGV[i]
    seen[#seen + 1] = stored
  end
end
if #seen > 2 then return seen end
if version ~= tonumber(ARGV[1]) then return {'conflict', version} end
local ids = {}
for i = 7, #ARGV, 2 do
  redis.call('SET', KEYS[2] .. ARGV[i], ARGV[i + 1], 'PX', ARGV[2], 'NX')
  ids[#ids + 1] = ARGV[i]
end
keep_rejections(KEYS[3], KEYS[2], ids, ARGV[2], ARGV[3])
if KEYS[4] then
  redis.call('XADD', KEYS[4], '*', 'g', ARGV[4], 'p', ARGV[5], 'e', '[]', 'r', ARGV[6])
end
return {'ok', version}
"""
)

# Trimming does not move Redis's max-deleted-entry-id, so an entry after `after` may be
# gone when `after` is older than the first retained entry and entries were removed. That
# is conservative: a client whose last event was exactly the last trimmed one resyncs too.
LEDGER_SINCE_LUA = """
-- KEYS: 1 ledger stream. ARGV: 1 ms, 2 seq of the id to resume after.
-- Returns {0} when an entry after it is (or may be) gone, else {1, entries}.
local function id(s)
  local ms, seq = string.match(s, '^(%d+)-(%d+)$')
  return {tonumber(ms), tonumber(seq)}
end
local function less(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end
local after = {tonumber(ARGV[1]), tonumber(ARGV[2])}
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info, k = redis.call('XINFO', 'STREAM', KEYS[1]), {}
  for i = 1, #info, 2 do k[info[i]] = info[i + 1] end
  -- an entry after `after` was deleted (XDEL) ...
  if less(after, id(k['max-deleted-entry-id'])) then return {0} end
  -- ... or trimmed: entries were removed and `after` is older than the first one left
  local first = k['first-entry']
  if k['entries-added'] > k['length'] and first and less(after, id(first[1])) then
    return {0}
  end
end
return {1, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1] .. '-' .. ARGV[2], '+')}
"""

_INT64_MAX = 2**63 - 1
_STREAM_ID = re.compile(r"(\d{1,19})(?:-(\d{1,19}))?", re.ASCII)


_commit_script = Script(COMMIT_LUA)
_here_script = Script(HERE_LUA)
_remember_script = Script(REMEMBER_LUA)
_ledger_since_script = Script(LEDGER_SINCE_LUA)


def _device_key(game: str, device_id: str) -> str:
    return f"rulesc:{{{key_part(game)}:dev:{key_part(device_id)}}}"


def _stream_id(event_id: str) -> tuple[str, str]:
    m = _STREAM_ID.fullmatch(event_id)
    # (past int64 as SQLite's are: both stores take and refuse the same numbers)
    if not m or any(int(part) > _INT64_MAX for part in m.groups("0")):
        raise ValueError(f"not an event id: {event_id!r}")
    return m.group(1), m.group(2) or "0"


def _entries(raw: list) -> list[dict]:
    out = []
    for eid, fields in raw:
        # XRANGE parsed by redis-py gives a dict; from a script, a flat [b"e", blob] list.
        entry = orjson.loads(fields[b"e"] if isinstance(fields, dict) else fields[1])
        entry["id"] = eid.decode()
        out.append(entry)
    return out


def _stored(blob: bytes) -> tuple[str, dict]:
    fingerprint, result = orjson.loads(blob)
    return fingerprint, result


def _outcome(reply: list) -> CommitOutcome:
    """A commit or remember script's reply: {'ok', version, event ids...} (a commit's
    has had its `published` flag taken out), {'seen', version, id, stored, ...} or
    {'conflict', version}."""
    status = reply[0].decode()
    if status == "seen":
        pairs = reply[2:]
        seen = {pairs[i].decode(): _stored(pairs[i + 1]) for i in range(0, len(pairs), 2)}
        return CommitOutcome("seen", reply[1], seen=seen)
    if status == "conflict":
        return CommitOutcome("conflict", reply[1])
    return CommitOutcome("ok", reply[1], event_ids=[e.decode() for e in reply[2:]])


class RedisStore(RedisSocial, Store):  # inboxes, outbox index, leaderboards: store_redis_social
    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        result_ttl: float = DEFAULT_RESULT_TTL,
        rejection_ttl: float = DEFAULT_REJECTION_TTL,
        max_rejections: int = DEFAULT_MAX_REJECTIONS,
        ledger_maxlen: int = DEFAULT_LEDGER_MAXLEN,
        publish_command: str | None = None,
        socket_timeout: float = 5.0,
        connect_timeout: float = 2.0,
        cluster: bool | None = None,
        presence_ttl: float = DEFAULT_TTL,
        presence_renew_every: float = DEFAULT_RENEW_EVERY,
        history: bool = False,
    ) -> None:
        """`publish_command`: "PUBLISH" (the default) or "SPUBLISH" (sharded pub/sub) on
        one node; a cluster always uses sharded pub/sub. `cluster`: whether `url` is a
        node of a Redis Cluster; None finds out on first use. `presence_*`: how long this
        process's entry as a listener of a player outlives it, and how often it is renewed
        (redis_presence.py). `history`: append every commit's entries and rejections to
        the history feed (runtime/history.py): one stream on one node, the stream of the
        player's slot on a cluster (redis_history.py)."""
        if publish_command not in (None, "PUBLISH", "SPUBLISH"):
            raise ValueError("publish_command must be PUBLISH or SPUBLISH")
        self._url = url
        self._result_ttl_ms = max(1, round(result_ttl * 1000))
        self._rejection_ttl_ms = max(1, round(min(rejection_ttl, result_ttl) * 1000))
        self._max_rejections = check_max_rejections(max_rejections)
        self._ledger_maxlen = ledger_maxlen
        self._publish_option = publish_command
        self._publish = publish_command or "PUBLISH"  # settled when the link opens
        self._timeout = socket_timeout
        self._connect_timeout = connect_timeout
        self._cluster = cluster
        self._link: Link | None = None
        self._opening = asyncio.Lock()
        self._closed = False
        self._history = history
        self._presence = Presence(
            self._run_here, ttl=presence_ttl, renew_every=presence_renew_every
        )

    @property
    def is_cluster(self) -> bool | None:
        """True on a Redis Cluster, False on one node, None until the link opens."""
        return self._cluster if self._link is not None else None

    async def _open(self) -> Link:
        """The link, opened on first use (so a server may start while Redis is down)."""
        async with self._opening:
            if self._link is not None:
                return self._link
            if self._closed:
                raise RedisConnectionError("the store is closed")
            t, ct = self._timeout, self._connect_timeout
            if self._cluster is None:
                self._cluster = await is_cluster(self._url, timeout=t, connect_timeout=ct)
            if self._cluster:
                self._publish = "SPUBLISH"  # each channel lives on its slot's master
                if self._history:
                    slot_feed_keys()  # the slots' feeds (~20 ms): now, not in a request
                link: Link = await ClusterLink.open(self._url, timeout=t, connect_timeout=ct)
            else:
                self._publish = self._publish_option or "PUBLISH"
                sharded = self._publish == "SPUBLISH"
                link = SingleNode(self._url, sharded=sharded, timeout=t, connect_timeout=ct)
            self._link = link
            return link

    @unavailable_on_error
    async def load(self, game: str, player: str) -> Snapshot:
        key = player_prefix(game, player) + ":state"
        raw: Any = await (self._link or await self._open()).execute(key, "HGETALL", key)
        if not raw:
            return Snapshot(0, None)
        if not isinstance(raw, dict):  # RESP2 answers a flat list of fields and values
            raw = dict(zip(raw[::2], raw[1::2], strict=True))
        version = int(raw.pop(VERSION_FIELD))
        return Snapshot(version, {k.decode(): orjson.loads(v) for k, v in raw.items()})

    async def commit(
        self,
        game: str,
        player: str,
        *,
        expected_version: int,
        state: dict,
        changed: list[str] | None,
        decided: list[Decided],
        push: bool = True,
    ) -> CommitOutcome:
        check_commit_args(state, changed, decided)
        p = player_prefix(game, player)
        # Not @unavailable_on_error: every action comes this way, and the decorator is a
        # coroutine frame of its own; the same translation, inline.
        try:
            link = self._link or await self._open()
            keys, args = self._commit_call(
                game, player, p, expected_version, state, changed, decided, push
            )
            try:
                reply = await _commit_script.evalsha(link, keys, args)
            except NoScriptError:  # as Script.__call__ does
                reply = await _commit_script.eval(link, keys, args)
        except Exception as e:
            failure = unavailable(e, write=True)  # a reply lost: StoreOutcomeUnknown
            if failure is None:
                raise
            raise failure from e
        published = reply[0] == b"ok" and reply.pop(2) == 1
        outcome = _outcome(reply)
        if outcome.status == "ok" and push and not published and self._presence.listening(p):
            self._presence.deliver(p, push_message(outcome.version, decided, outcome.event_ids))
        return outcome

    def _commit_call(
        self,
        game: str,
        player: str,
        p: str,
        expected_version: int,
        state: dict,
        changed: list[str] | None,
        decided: list[Decided],
        push: bool,
    ) -> tuple[list[str], list[Any]]:
        """The commit script's keys and arguments (see COMMIT_LUA)."""
        keys = [p + ":state", p + ":res:", p + ":ledger", p + ":push", p + ":here", p + ":rej"]
        fields = list(state) if changed is None else changed
        args: list[Any] = [
            expected_version,
            self._result_ttl_ms,
            self._ledger_maxlen,
            self._publish if push else "",
            "1" if changed is None else "0",
            len(decided),
            len(fields),
            self._presence.id,
            self._rejection_ttl_ms,
            self._max_rejections,
        ]
        for d in decided:
            entry = b"" if d.ledger is None else orjson.dumps(d.ledger)
            args += [d.action_id, orjson.dumps([d.fingerprint, d.result]), entry]
        for name in fields:
            args += [name, orjson.dumps(state[name]) if name in state else b""]
        args.append(orjson.dumps([d.result for d in decided]))
        if self._history:
            keys.append(self._feed_key(p))
            args += [game, player, orjson.dumps(rejections_of(decided))]
        return keys, args

    def _feed_key(self, p: str) -> str:
        """The history feed a player's commits append to (the link is open)."""
        return feed_key_for(p) if self._cluster else HISTORY_KEY

    async def remember(
        self, game: str, player: str, *, expected_version: int, decided: list[Decided]
    ) -> CommitOutcome:
        check_remember_args(decided)
        p = player_prefix(game, player)
        args: list[Any] = [expected_version, self._rejection_ttl_ms, self._max_rejections]
        keys = [p + ":state", p + ":res:", p + ":rej"]
        try:
            link = self._link or await self._open()
            if self._history:
                keys.append(self._feed_key(p))
                args += [game, player, orjson.dumps(rejections_of(decided))]
            else:
                args += ["", "", ""]
            for d in decided:
                args += [d.action_id, orjson.dumps([d.fingerprint, d.result])]
            reply = await _remember_script(link, keys, args)
        except Exception as e:
            failure = unavailable(e, write=True)  # as commit
            if failure is None:
                raise
            raise failure from e
        return _outcome(reply)

    @unavailable_on_error
    async def lookup(
        self, game: str, player: str, action_ids: list[str]
    ) -> dict[str, tuple[str, dict]]:
        if not action_ids:
            return {}
        p = player_prefix(game, player) + ":res:"
        link = self._link or await self._open()
        blobs: Any = await link.execute(p, "MGET", *[p + a for a in action_ids])
        return {a: _stored(b) for a, b in zip(action_ids, blobs, strict=True) if b is not None}

    @unavailable_on_error
    async def ledger(self, game: str, player: str, *, after: str | None, limit: int) -> list[dict]:
        if limit < 1:
            return []
        start = "-" if after is None else "({}-{}".format(*_stream_id(after))
        key = player_prefix(game, player) + ":ledger"
        link = self._link or await self._open()
        return _entries(await link.execute(key, "XRANGE", key, start, "+", "COUNT", limit))

    @unavailable_on_error
    async def ledger_recent(self, game: str, player: str, *, limit: int) -> list[dict]:
        if limit < 1:
            return []
        key = player_prefix(game, player) + ":ledger"
        link = self._link or await self._open()
        raw = await link.execute(key, "XREVRANGE", key, "+", "-", "COUNT", limit)
        return _entries(list(reversed(raw)))

    @unavailable_on_error
    async def ledger_since(self, game: str, player: str, after: str) -> list[dict] | None:
        keys = [player_prefix(game, player) + ":ledger"]
        link = self._link or await self._open()
        reply = await _ledger_since_script(link, keys, list(_stream_id(after)))
        return _entries(reply[1]) if reply[0] == 1 else None

    @unavailable_on_error
    async def player_for_device(self, game: str, device_id: str) -> str:
        key = _device_key(game, device_id)
        fresh = new_player_id()
        link = self._link or await self._open()
        # SET NX GET: one round trip, and two racing first sign-ins agree on one player.
        old: Any = await link.execute(key, "SET", key, fresh, "NX", "GET")
        return fresh if old is None else old.decode()

    @unavailable_on_error
    async def subscribe(self, game: str, player: str, callback: Callback) -> Subscription:
        link = self._link or await self._open()
        p = player_prefix(game, player)

        def listener(message: dict) -> None:
            if message.get("gap"):  # the push link was down: our entry may have lapsed
                self._presence.renew_soon(p)
            callback(message)

        sub = await link.subscribe(p + ":push", listener)
        try:
            version = await self._presence.enter(p, callback)
        except BaseException:
            await sub.close()
            raise
        return _Subscription(self._presence, p, callback, sub, version)

    def _run_here(self, keys: list[str], args: list[Any]) -> Awaitable[Any]:
        assert self._link is not None  # entries are made by subscribe, after the link opened
        return _here_script(self._link, keys, args)

    @unavailable_on_error
    async def ping(self) -> None:
        await (self._link or await self._open()).ping()

    def history_feed(self) -> RedisFeed:
        """The history stream, read by a history.Drainer."""
        return RedisFeed(self)

    async def _link_now(self) -> Link:
        return self._link or await self._open()

    async def close(self) -> None:
        self._closed = True
        await self._presence.close()
        async with self._opening:
            link, self._link = self._link, None
        if link is not None:
            await link.close()


class _Subscription(Subscription):
    """A subscription to the channel, and this process's place among its listeners."""

    def __init__(
        self, presence: Presence, prefix: str, callback: Callback, sub: Subscription, version: int
    ) -> None:
        self._presence, self._prefix, self._callback, self._sub = presence, prefix, callback, sub
        self.version = version

    async def close(self) -> None:
        await self._sub.close()
        await self._presence.leave(self._prefix, self._callback)  # a failure there lapses


# After the SQL commit: the items written dropped from the stream (it keeps only what
# waits), and the entries written added to the drainers' totals (HISTORY_TOTALS)
TRIM_LUA = """
redis.call('HINCRBY', KEYS[2], 'written', ARGV[2])
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
"""
STATUS_LUA = """
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local totals = redis.call('HMGET', KEYS[2], 'written', 'failures')
return {redis.call('XLEN', KEYS[1]), first[1] and first[1][1] or false,
  totals[1] or '0', totals[2] or '0'}
"""
# The feed's epoch (history.Feed.name): made by the first drainer, kept as long as the
# stream's data is (a wiped Redis makes a new one)
EPOCH_LUA = """
local epoch = redis.call('GET', KEYS[1])
if epoch then return epoch end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""
_trim_script = Script(TRIM_LUA)
_status_script = Script(STATUS_LUA)
_epoch_script = Script(EPOCH_LUA)
HISTORY_TOTALS = HISTORY_KEY + ":totals"  # {written, failures} of every drainer
HISTORY_EPOCH = HISTORY_KEY + ":epoch"


class RedisFeed:
    """The history feed (see runtime/history.py): items stay until a drainer trims them,
    after the history database took them; positions are the stream ids. On one node, one
    stream (HISTORY_KEY, history.Feed); on a Redis Cluster, a stream per hash slot
    (redis_history.py, history.FeedSet: read_many and trim_many)."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._slots = ClusterFeeds()
        self._epoch: str | None = None  # on a cluster: read again after a failure

    @unavailable_on_error
    async def many(self) -> bool:
        """Whether the feed is a stream per slot (on a cluster): read_many, trim_many."""
        await self._store._link_now()
        return bool(self._store.is_cluster)

    async def _make_epoch(self, link: Link) -> str:
        epoch = await _epoch_script(link, [HISTORY_EPOCH], [secrets.token_hex(8)])
        return epoch.decode()

    @unavailable_on_error
    async def name(self) -> str:
        link = await self._store._link_now()
        return f"redis:{await self._make_epoch(link)}"

    @unavailable_on_error
    async def read_after(self, position: Position | None, limit: int) -> list[FeedItem]:
        link = await self._store._link_now()
        start = "-" if position is None else first_after(position)
        reply: Any = await link.execute(
            HISTORY_KEY, "XRANGE", HISTORY_KEY, start, "+", "COUNT", limit
        )
        return feed_items(reply)

    @unavailable_on_error
    async def trim(self, position: Position, written: int) -> None:
        link = await self._store._link_now()
        await _trim_script(link, [HISTORY_KEY, HISTORY_TOTALS], [first_after(position), written])

    def forget(self) -> None:
        """After a failure: the epoch is read again (a wiped Redis made a new one)."""
        self._epoch = None

    @unavailable_on_error
    async def read_many(self, limit: int) -> tuple[dict[str, list[FeedItem]], bool]:
        """Items of the slots' feeds that have any, by feed name `redis:<epoch>:<slot>`."""
        link = await self._store._link_now()
        assert isinstance(link, ClusterLink), "read_many is for a cluster's feeds"
        if self._epoch is None:
            self._epoch = await self._make_epoch(link)
        batches, more, failure = await self._slots.read(link, self._epoch, limit)
        if failure is not None:
            if not batches:
                raise failure
            # the other masters' items go on to the database; this one's wait for it
            log.warning("history: a master's feeds could not be read: %s", failure)
            with contextlib.suppress(Exception):
                await self.count_failure()
        return batches, more

    @unavailable_on_error
    async def trim_many(self, positions: dict[str, Position], written: int) -> None:
        link = await self._store._link_now()
        assert isinstance(link, ClusterLink), "trim_many is for a cluster's feeds"
        await self._slots.trim(link, positions)
        if written:
            await link.execute(HISTORY_TOTALS, "HINCRBY", HISTORY_TOTALS, "written", written)

    @unavailable_on_error
    async def status(self) -> FeedStatus:
        link = await self._store._link_now()
        if isinstance(link, ClusterLink):
            waiting, oldest = await self._slots.status(link)
            raw: Any = await link.execute(
                HISTORY_TOTALS, "HMGET", HISTORY_TOTALS, "written", "failures"
            )
            written, failures = (int(v or 0) for v in raw)
            return FeedStatus(waiting, oldest, written, failures)
        waiting, first, written, failures = await _status_script(
            link, [HISTORY_KEY, HISTORY_TOTALS], []
        )
        oldest_ms = None if not first else int(first.decode().split("-", 1)[0])
        return FeedStatus(int(waiting), oldest_ms, int(written), int(failures))

    @unavailable_on_error
    async def count_failure(self) -> None:
        link = await self._store._link_now()
        await link.execute(HISTORY_TOTALS, "HINCRBY", HISTORY_TOTALS, "failures", 1)
