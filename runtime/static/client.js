/**
 * rulesc-client: the JavaScript client of a rulesc game server (docs/protocol.md).
 *
 * An ES module with no dependencies, served by the server at /client.js. It runs in
 * browsers and in Node 18+ (Node 18 and 20 have no global WebSocket: pass one in the
 * options, e.g. `{ WebSocket }` from the `ws` package; Node 22 has its own).
 *
 *   import { Client } from "http://127.0.0.1:8000/client.js";
 *   const client = await Client.guest("http://127.0.0.1:8000", "harvest", deviceId);
 *   await client.connect();                          // the live channel: pushes, urgent acts
 *   client.on("state", (frame) => render(frame));    // every change, from any device
 *   const gift = await client.act("daily_gift");     // sent at once over the WebSocket
 *   const a = client.queue("buy_seed", { kind: "wheat", qty: 3 });  // batched over
 *   const b = client.queue("plant", { slot: 0, kind: "wheat" });    // `window` ms
 *   console.log(await a, await b);
 *   const would = await client.check("harvest", { slot: 0 });  // grey out a button?
 *
 * The guarantees are those of the Python client (rulesc/client.py):
 * - exactly once: an action gets its id when it is acted or queued, and is resent with that
 *   id until the server answers it (lost answers, dropped connections, 503 — `unavailable`,
 *   and `outcome_unknown`: the store lost its answer to a write — 429 and `busy` are
 *   retried; the server answers a retry from memory, with `"replayed": true`);
 * - in order: queued batches go one at a time, the head resent until it is answered;
 * - live: the WebSocket reconnects by itself with exponential backoff and jitter, and sends
 *   `resume` after the last event it saw, so missed events are replayed; when what was
 *   missed cannot be told, it emits `resync` (fetch the state again).
 */

/** The server refused a request for good (a 4xx other than 429): resending won't help. */
export class ClientError extends Error {
  constructor(status, code, message, details = {}) {
    super(`${status} ${code}: ${message}`);
    this.name = "ClientError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.serverMessage = message;
  }
}

/** Try the same request again, after `afterMs` (null: the usual backoff). Internal. */
class Retry extends Error {
  constructor(reason, afterMs = null) {
    super(reason);
    this.afterMs = afterMs;
  }
}

// Error frames answered by sending the same frame again (the same ids), after a while:
// `outcome_unknown` above all: the action may have been applied, and only a resend with
// the same id can tell (it answers the stored result); a new id could apply it twice.
const RETRIED_FRAME_ERRORS = new Set(["unavailable", "outcome_unknown", "rate_limited"]);

function randomHex(bytes) {
  const buf = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}

function isBusy(results) {
  return results.some((r) => r.status === "rejected" && r.error?.code === "busy");
}

export class Client {
  /**
   * @param {string} url  the server, e.g. "http://127.0.0.1:8000"
   * @param {string} game the game id
   * @param {object} [options]
   *   token: a bearer token (else call signIn); window: ms queued actions wait to go
   *   together (50); channel: "http" or "ws", how queued batches go ("http"; urgent acts
   *   always take the WebSocket); maxBatch (100); timeout: ms to wait for an answer (10000);
   *   backoff, maxBackoff: ms between retries, doubling (50, 5000); pingInterval: ms between
   *   the client's pings, which find half-open links (15000); fetch, WebSocket: to use
   *   instead of the globals.
   */
  constructor(url, game, options = {}) {
    this.url = url.replace(/\/+$/, "");
    this.game = game;
    this.token = options.token ?? null;
    this.playerId = null;
    this.window = options.window ?? 50;
    this.channel = options.channel ?? "http";
    if (this.channel !== "http" && this.channel !== "ws") {
      throw new TypeError('channel must be "http" or "ws"');
    }
    this.maxBatch = options.maxBatch ?? 100;
    this.timeout = options.timeout ?? 10000;
    this.backoff = options.backoff ?? 50;
    this.maxBackoff = options.maxBackoff ?? 5000;
    this.pingInterval = options.pingInterval ?? 15000;
    this.lastEventId = options.lastEventId ?? null;
    this.version = 0; // the highest state version heard of
    // the scheduled events of the last `events` frame ({active, next}); null before the
    // first, which comes right after each `welcome`
    this.events = null;
    this.reconnects = 0;
    this._fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this._prefix = randomHex(6); // ids unique across this player's devices and page loads
    this._seq = 0;
    this._pending = []; // queued, not yet in a batch: {action, resolve, reject}
    this._outbox = []; // sealed batches, sent head first: {actions, waiters}
    this._flushTimer = null;
    this._sending = false;
    this._ws = null; // the open socket, once its `welcome` came
    this._live = false; // connect() was called: keep the socket open
    this._waiting = new Map(); // ref -> {resolve, reject, timer}: frames awaiting answers
    this._refs = 0;
    this._connectedWaiters = [];
    this._sleeps = new Set();
    this._pinger = null;
    this._lastHeard = 0;
    this._pushedVersion = 0; // the highest version a `state` push announced
    this._listeners = new Map();
    this._closed = false;
  }

  // -- identity --

  /** Sign a device in as a guest: the same device id is the same player. */
  static async guest(url, game, deviceId, options = {}) {
    const client = new Client(url, game, options);
    await client.signIn(deviceId);
    return client;
  }

  async signIn(deviceId) {
    const session = await this._call("POST", "session", { device_id: deviceId }, { auth: false });
    this.token = session.token;
    this.playerId = session.player_id;
    return session;
  }

  newId() {
    this._seq += 1;
    return `${this._prefix}-${this._seq}`;
  }

  // -- pushes --

  /**
   * Listen to `state`, `event`, `events`, `resync`, `resumed`, `open` or `close`; returns a
   * function that stops listening. `state`, `event` and `events` get the frames as the
   * server sends them (`events`: the scheduled events running and the next one, right after
   * each `welcome` and whenever one starts or ends; `client.events` keeps the latest).
   */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this._listeners.get(type)?.delete(fn);
  }

  _emit(type, payload) {
    for (const fn of [...(this._listeners.get(type) ?? [])]) {
      try {
        fn(payload);
      } catch (e) {
        console.error(`rulesc-client: a "${type}" listener threw`, e);
      }
    }
  }

  // -- HTTP --

  /** One call to /v1/{game}/{path}, retried on retriable failures; ClientError otherwise. */
  async _call(method, path, body, { auth = true, retry = true } = {}) {
    let delay = this.backoff;
    for (;;) {
      if (this._closed) throw new ClientError(0, "closed", "the client is closed");
      try {
        return await this._fetchOnce(method, path, body, auth);
      } catch (e) {
        if (!(e instanceof Retry) || !retry) throw e;
        await this._sleep(e.afterMs ?? this._jitter(delay));
        delay = Math.min(delay * 2, this.maxBackoff);
      }
    }
  }

  async _fetchOnce(method, path, body, auth) {
    const headers = { "Content-Type": "application/json" };
    if (auth && this.token) headers.Authorization = `Bearer ${this.token}`;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.timeout);
    let response;
    let text;
    try {
      response = await this._fetch(`${this.url}/v1/${this.game}/${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: abort.signal,
      });
      text = await response.text();
    } catch (e) {
      // refused, cut or timed out: the request may have been applied, its answer lost
      throw new Retry(`no answer: ${e.message}`);
    } finally {
      clearTimeout(timer);
    }
    let data = {};
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      data = {};
    }
    if (response.status === 200) return data;
    const error = data?.error ?? {};
    if (response.status === 429) {
      const ms = error.details?.retry_after_ms;
      const header = Number(response.headers.get("Retry-After") ?? "1") * 1000;
      throw new Retry("rate limited", typeof ms === "number" ? ms : header);
    }
    if ([502, 503, 504].includes(response.status)) { // outcome_unknown too: the same ids again
      throw new Retry(`${response.status} ${error.code ?? ""}`);
    }
    throw new ClientError(response.status, error.code ?? "error",
      error.message ?? response.statusText, error.details ?? {});
  }

  /** `{player_id, version, server_time, rules, state}` */
  async state() {
    const answer = await this._call("GET", "state");
    this.version = Math.max(this.version, answer.version);
    return answer;
  }

  /** The player's history, oldest first: entries after the event id `after`. */
  async ledger({ after = null, limit = 100 } = {}) {
    const query = `ledger?limit=${limit}` + (after ? `&after=${encodeURIComponent(after)}` : "");
    return (await this._call("GET", query)).entries;
  }

  /** The pack's public schema: resources, tables, slots, actions with their params. */
  async rules() {
    return this._call("GET", "rules");
  }

  /** What one action would do now (nothing is written): its result object. */
  async check(name, params = {}) {
    return (await this.checkAll([{ name, params }]))[0];
  }

  /** What a batch would do now, each action on the state the earlier ones leave. */
  async checkAll(actions) {
    // fresh ids: an id seen before would be answered from memory as a replay
    const batch = actions.map((a) => ({ id: a.id ?? `check-${this.newId()}`, name: a.name,
      params: a.params ?? {} }));
    return (await this._call("POST", "actions/check", { actions: batch })).results;
  }

  // -- the live channel --

  /**
   * Open the WebSocket and keep it open: it reconnects by itself until close(). Resolves
   * once the server has subscribed this connection (its `welcome`): no push after it is
   * missed. Rejects when the first opening fails.
   */
  async connect() {
    if (this._live) return this._whenConnected();
    this._live = true;
    try {
      await this._open();
    } catch (e) {
      this._live = false;
      throw e instanceof Retry ? new ClientError(0, "unreachable", e.message) : e;
    }
    this._pinger = setInterval(() => this._keepAlive(), this.pingInterval);
  }

  get connected() {
    return this._ws !== null;
  }

  _open() {
    const base = this.url.replace(/^http/, "ws");
    const url = `${base}/v1/${this.game}/ws?token=${encodeURIComponent(this.token ?? "")}`;
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this._WebSocket(url);
      } catch (e) {
        reject(new Retry(`cannot open: ${e.message}`));
        return;
      }
      let welcomed = false;
      const timer = setTimeout(() => fail("no welcome in time"), this.timeout);
      const fail = (reason) => {
        clearTimeout(timer);
        if (welcomed) return;
        welcomed = true; // settled
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try {
          ws.close();
        } catch {
          // already closed
        }
        reject(new Retry(reason));
      };
      ws.onerror = () => fail("the live channel did not open");
      ws.onclose = (ev) => fail(`the live channel closed on opening (${ev.code})`);
      ws.onmessage = (ev) => {
        let frame;
        try {
          frame = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (welcomed) return;
        // `welcome` says the server has subscribed us: no push after it can be missed
        if (frame.type !== "welcome") return fail(`expected welcome, got ${frame.type}`);
        welcomed = true;
        clearTimeout(timer);
        if (this._closed) {
          ws.close();
          reject(new ClientError(0, "closed", "the client is closed"));
          return;
        }
        this.playerId = this.playerId ?? frame.player_id;
        this._attach(ws);
        resolve();
      };
    });
  }

  _attach(ws) {
    this._ws = ws;
    this._lastHeard = Date.now();
    ws.onmessage = (ev) => {
      this._lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      this._dispatch(frame);
    };
    ws.onclose = () => this._drop(ws);
    ws.onerror = () => this._drop(ws);
    for (const w of this._connectedWaiters.splice(0)) w.resolve();
    this._emit("open", { reconnects: this.reconnects });
  }

  /** The socket is gone (closed, failed, or silent too long): fail what waits, reconnect. */
  _drop(ws) {
    if (this._ws !== ws) return; // an old socket, already handled
    ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close();
    } catch {
      // closing a dead socket may throw; it is gone either way
    }
    this._ws = null;
    for (const [, w] of this._waiting) {
      clearTimeout(w.timer);
      w.reject(new Retry("connection lost"));
    }
    this._waiting.clear();
    this._emit("close", {});
    if (!this._closed && this._live) this._reconnect();
  }

  async _reconnect() {
    let delay = this.backoff;
    while (!this._closed) {
      await this._sleep(this._jitter(delay));
      if (this._closed) return;
      try {
        await this._open();
      } catch {
        // refused, timed out, closed on upgrade (401, 503): try again later
        delay = Math.min(delay * 2, this.maxBackoff);
        continue;
      }
      this.reconnects += 1;
      if (this.lastEventId !== null) {
        try {
          this._sendFrame({ type: "resume", after: this.lastEventId });
        } catch {
          return; // dropped again at once: that drop reconnects and resumes
        }
      } else {
        this._emit("resync", { type: "resync", reason: "reconnected" }); // what we missed is unknown
      }
      return;
    }
  }

  _keepAlive() {
    const ws = this._ws;
    if (ws === null) return;
    // nothing heard for a ping and a timeout: the link is half-open; drop it and reconnect
    if (Date.now() - this._lastHeard > this.pingInterval + this.timeout) {
      this._drop(ws);
      return;
    }
    try {
      this._sendFrame({ type: "ping" });
    } catch {
      // dropped meanwhile: _drop handles it
    }
  }

  _dispatch(frame) {
    if (typeof frame.version === "number") this.version = Math.max(this.version, frame.version);
    if (frame.type === "event" && typeof frame.id === "string") this.lastEventId = frame.id;
    if (frame.type === "state" && typeof frame.version === "number") {
      this._pushedVersion = Math.max(this._pushedVersion, frame.version);
    }
    const waiter = frame.ref !== undefined ? this._waiting.get(frame.ref) : undefined;
    if (waiter !== undefined) {
      this._waiting.delete(frame.ref);
      clearTimeout(waiter.timer);
      waiter.resolve(frame);
      return;
    }
    if (frame.type === "resumed") {
      this._emit("resumed", frame);
      // events were replayed, state pushes are not: a version we never heard of means a
      // change we missed
      if (frame.version > this._pushedVersion) {
        this._emit("resync", { type: "resync", reason: "changes while disconnected" });
      }
      return;
    }
    if (frame.type === "events" && frame.events && typeof frame.events === "object") {
      this.events = frame.events;
      this._emit("events", frame);
      return;
    }
    if (frame.type === "state" || frame.type === "event" || frame.type === "resync") {
      this._emit(frame.type, frame);
    }
  }

  _sendFrame(frame) {
    // a browser drops what is sent on a closing socket without a word: fail it here, so it
    // is resent at once rather than after a timeout
    if (this._ws === null || this._ws.readyState !== 1) throw new Retry("not connected");
    try {
      this._ws.send(JSON.stringify(frame));
    } catch {
      throw new Retry("connection lost");
    }
  }

  /** Send a frame and wait for the answer that echoes its ref. */
  _request(frame) {
    this._refs += 1;
    const ref = `r${this._refs}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._waiting.delete(ref);
        reject(new Retry("no answer in time"));
      }, this.timeout);
      this._waiting.set(ref, { resolve, reject, timer });
      try {
        this._sendFrame({ ...frame, ref });
      } catch (e) {
        clearTimeout(timer);
        this._waiting.delete(ref);
        reject(e);
      }
    });
  }

  _whenConnected() {
    if (this._closed) return Promise.reject(new ClientError(0, "closed", "the client is closed"));
    if (this._ws !== null) return Promise.resolve();
    return new Promise((resolve, reject) => this._connectedWaiters.push({ resolve, reject }));
  }

  /**
   * Apply one action now, over the WebSocket; resent with the same id until it is
   * answered. Resolves to the result object (`status` "ok" or "rejected").
   */
  async act(name, params = {}, { id = null } = {}) {
    if (!this._live) throw new ClientError(0, "not_connected", "call connect() before act()");
    const frame = { type: "act", id: id ?? this.newId(), name, params };
    const answer = await this._untilAnswered(frame);
    if (answer.type !== "result") {
      throw new ClientError(400, answer.code ?? "error", answer.message ?? "", answer.details);
    }
    return answer;
  }

  /** A round trip over the live channel: `{type: "pong", server_time}`. */
  async ping() {
    return this._untilAnswered({ type: "ping" });
  }

  async _untilAnswered(frame) {
    let delay = this.backoff;
    for (;;) {
      await this._whenConnected();
      try {
        const answer = await this._request(frame);
        if (answer.type === "error" && RETRIED_FRAME_ERRORS.has(answer.code)) {
          throw new Retry(answer.code, answer.details?.retry_after_ms ?? null);
        }
        if (answer.type === "result" && isBusy([answer])) throw new Retry("busy");
        return answer;
      } catch (e) {
        if (!(e instanceof Retry)) throw e;
        await this._sleep(e.afterMs ?? this._jitter(delay));
        delay = Math.min(delay * 2, this.maxBackoff);
      }
    }
  }

  // -- batching --

  /** Queue an action for the next batch; resolves to its result object. */
  queue(name, params = {}, { id = null } = {}) {
    if (this._closed) return Promise.reject(new ClientError(0, "closed", "the client is closed"));
    const entry = { action: { id: id ?? this.newId(), name, params } };
    entry.done = new Promise((resolve, reject) => Object.assign(entry, { resolve, reject }));
    this._pending.push(entry);
    if (this._pending.length >= this.maxBatch) {
      this._seal();
    } else if (this._flushTimer === null) {
      this._flushTimer = setTimeout(() => this._seal(), this.window);
    }
    return entry.done;
  }

  /** Close the pending actions into batches and make sure the sender runs. */
  _seal() {
    if (this._flushTimer !== null) {
      clearTimeout(this._flushTimer);
      this._flushTimer = null;
    }
    while (this._pending.length > 0) {
      const chunk = this._pending.splice(0, this.maxBatch);
      this._outbox.push({ actions: chunk.map((p) => p.action), waiters: chunk });
    }
    if (!this._sending) this._sendBatches();
  }

  /** Send what is queued now; resolves once every batch so far is answered. */
  async flush() {
    this._seal();
    const waits = this._outbox.flatMap((b) => b.waiters.map((w) => w.done));
    await Promise.allSettled(waits);
  }

  async _sendBatches() {
    this._sending = true;
    let delay = this.backoff;
    try {
      while (this._outbox.length > 0 && !this._closed) {
        const batch = this._outbox[0]; // the head is resent until answered: order holds
        let results;
        try {
          results = await this._sendBatch(batch.actions);
        } catch (e) {
          if (this._outbox[0] !== batch) return; // closed meanwhile: its waiters were failed
          if (e instanceof Retry) {
            await this._sleep(e.afterMs ?? this._jitter(delay));
            delay = Math.min(delay * 2, this.maxBackoff);
            continue;
          }
          this._outbox.shift();
          for (const w of batch.waiters) w.reject(e);
          continue;
        }
        if (this._outbox[0] !== batch) return;
        this._outbox.shift();
        delay = this.backoff;
        batch.waiters.forEach((w, i) => w.resolve(results[i]));
      }
    } finally {
      this._sending = false;
    }
  }

  async _sendBatch(actions) {
    let answer;
    if (this.channel === "ws" && this._ws !== null) {
      answer = await this._request({ type: "batch", actions });
      if (answer.type === "error") {
        if (RETRIED_FRAME_ERRORS.has(answer.code)) {
          throw new Retry(answer.code, answer.details?.retry_after_ms ?? null);
        }
        throw new ClientError(400, answer.code ?? "error", answer.message ?? "", answer.details);
      }
    } else {
      answer = await this._fetchOnce("POST", "actions", { actions }, true);
    }
    this.version = Math.max(this.version, answer.version ?? 0);
    if (isBusy(answer.results)) throw new Retry("busy"); // nothing applied: the same batch again
    return answer.results;
  }

  /** One HTTP batch, sent now and once (no queue, no retry): for tests and tools. */
  async sendBatch(actions) {
    return this._call("POST", "actions", { actions }, { retry: false });
  }

  // -- the end --

  _jitter(delay) {
    return delay * (0.5 + Math.random());
  }

  /** A sleep that close() cuts short, so a closed client leaves no timer behind. */
  _sleep(ms) {
    return new Promise((resolve) => {
      const entry = { resolve, timer: setTimeout(() => {
        this._sleeps.delete(entry);
        resolve();
      }, ms) };
      this._sleeps.add(entry);
    });
  }

  /** Stop: close the socket, and fail whatever still waits (ClientError "closed"). */
  close() {
    if (this._closed) return;
    this._closed = true;
    const closed = () => new ClientError(0, "closed", "the client is closed");
    clearTimeout(this._flushTimer);
    clearInterval(this._pinger);
    for (const s of this._sleeps) {
      clearTimeout(s.timer);
      s.resolve();
    }
    this._sleeps.clear();
    for (const w of this._connectedWaiters.splice(0)) w.reject(closed());
    for (const [, w] of this._waiting) {
      clearTimeout(w.timer);
      w.reject(closed());
    }
    this._waiting.clear();
    for (const p of this._pending.splice(0)) p.reject(closed());
    for (const b of this._outbox.splice(0)) for (const w of b.waiters) w.reject(closed());
    if (this._ws !== null) {
      const ws = this._ws;
      this._ws = null;
      ws.onmessage = ws.onclose = ws.onerror = null;
      ws.close();
    }
  }
}
