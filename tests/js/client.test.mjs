// The JavaScript client against a real server (started by tests/test_js_client.py, which
// passes its address in RULESC_URL). Faults are real: a TCP proxy loses answers after the
// server applied the request, cuts live links and refuses reconnects.
import "./websocket.mjs";  // before the client: a WebSocket on every supported node
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";

import { Client, ClientError } from "../../runtime/static/client.js";
import { Proxy } from "./proxy.mjs";

const URL_ = process.env.RULESC_URL;
const GAME = "harvest";
if (!URL_) throw new Error("RULESC_URL is not set: run these through tests/test_js_client.py");
const PORT = Number(new URL(URL_).port);
const FAST = { backoff: 20, maxBackoff: 200, timeout: 3000 };

let proxy;
before(async () => {
  proxy = await new Proxy(PORT).start();
});
after(async () => {
  await proxy.close();
});

// every client a test makes is closed after it, passed or not: an open socket would keep
// node running
const clients = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

let devices = 0;
function device() {
  devices += 1;
  return `js-device-${process.pid}-${Date.now()}-${devices}`;
}

/** A client through the proxy, and a second device of the same player straight to the server. */
async function pair(options = {}) {
  const id = device();
  const client = await Client.guest(proxy.url, GAME, id, { ...FAST, ...options });
  const direct = await Client.guest(URL_, GAME, id, FAST);
  clients.push(client, direct);
  assert.equal(client.playerId, direct.playerId);
  return { client, direct };
}

function waitFor(pred, what, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      const value = pred();
      if (value) return resolve(value);
      if (Date.now() - started > timeout) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

describe("exactly once", () => {
  test("a batch whose answer is lost is resent with the same ids and applies once", async () => {
    const { client, direct } = await pair({ window: 20 });
    proxy.dropAnswers = 1;
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map(() => client.queue("buy_seed", { kind: "wheat", qty: 1 })),
    );
    assert.equal(proxy.dropAnswers, 0, "the answer was dropped");
    assert.deepEqual(results.map((r) => r.status), ["ok", "ok", "ok", "ok", "ok"]);
    assert.ok(results.every((r) => r.replayed === true), "answered from the server's memory");
    const { state } = await direct.state();
    assert.equal(state.seed.wheat, 5);
    assert.equal(state.coins, 200 - 5 * 5);
    const ledger = await direct.ledger();
    assert.deepEqual(ledger.map((e) => e.action_id), results.map((r) => r.id));
  });

  test("an urgent act whose socket is killed mid-answer is resent and applies once", async () => {
    const { client, direct } = await pair();
    await client.connect();
    proxy.dropAnswers = 1; // the socket dies when the server answers the act
    const result = await client.act("buy_seed", { kind: "carrot", qty: 2 });
    assert.equal(result.status, "ok");
    assert.equal(result.replayed, true);
    assert.ok(client.reconnects >= 1);
    const { state } = await direct.state();
    assert.equal(state.seed.carrot, 2);
    assert.equal((await direct.ledger()).length, 1);
  });

  test("a batch over the WebSocket survives a killed socket", async () => {
    const { client, direct } = await pair({ channel: "ws", window: 10 });
    await client.connect();
    proxy.dropAnswers = 1;
    const results = await Promise.all([
      client.queue("buy_seed", { kind: "wheat", qty: 3 }),
      client.queue("plant", { slot: 0, kind: "wheat" }),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["ok", "ok"]);
    const { state } = await direct.state();
    assert.equal(state.seed.wheat, 2);
    assert.equal(state.field[0].crop, "wheat");
    assert.equal((await direct.ledger()).length, 2);
  });

  test("a retried act with the same id and other params is refused, not applied", async () => {
    const { client, direct } = await pair();
    await client.connect();
    const first = await client.act("buy_seed", { kind: "wheat", qty: 1 }, { id: "fixed-1" });
    const again = await client.act("buy_seed", { kind: "wheat", qty: 1 }, { id: "fixed-1" });
    const other = await client.act("buy_seed", { kind: "wheat", qty: 9 }, { id: "fixed-1" });
    assert.equal(first.status, "ok");
    assert.equal(again.replayed, true);
    assert.equal(other.error.code, "id_reused");
    assert.equal((await direct.state()).state.seed.wheat, 1);
  });
});

describe("order", () => {
  test("queued actions apply in the order queued, across batches and lost answers", async () => {
    const { client, direct } = await pair({ window: 5, maxBatch: 3 });
    const queued = [];
    for (let slot = 0; slot < 6; slot += 1) {
      // each plant needs the seed bought just before it: out of order, it is rejected
      queued.push(client.queue("buy_seed", { kind: "wheat", qty: 1 }));
      queued.push(client.queue("plant", { slot, kind: "wheat" }));
    }
    proxy.dropAnswers = 2;
    const results = await Promise.all(queued);
    assert.ok(results.every((r) => r.status === "ok"), JSON.stringify(results));
    const ledger = await direct.ledger();
    assert.deepEqual(ledger.map((e) => e.action_id), results.map((r) => r.id));
    assert.deepEqual(ledger.map((e) => e.action).slice(0, 4), ["buy_seed", "plant", "buy_seed", "plant"]);
    const { state } = await direct.state();
    assert.ok(state.field.every((f) => f !== null && f.crop === "wheat"));
  });
});

describe("the live channel", () => {
  test("pushes reach every device; resume after a reconnect replays missed events", async () => {
    const { client, direct } = await pair();
    const states = [];
    const events = [];
    const resumed = [];
    const resyncs = [];
    client.on("state", (f) => states.push(f));
    client.on("event", (f) => events.push(f));
    client.on("resumed", (f) => resumed.push(f));
    client.on("resync", (f) => resyncs.push(f));
    await client.connect();

    // a change made on the other device is pushed, with its cause
    const bought = await direct.queue("buy_seed", { kind: "wheat", qty: 3 });
    await waitFor(() => states.find((s) => s.cause.action_id === bought.id), "the state push");
    await direct.queue("plant", { slot: 0, kind: "wheat" });
    await direct.queue("clear", { slot: 0 });
    await waitFor(() => events.length === 1, "the first event");
    const seen = client.lastEventId;
    assert.equal(events[0].name, "plot_cleared");

    // the link dies and reconnecting fails for a while; the other device keeps playing
    proxy.down = true;
    proxy.cut();
    await waitFor(() => !client.connected, "the drop");
    await direct.queue("plant", { slot: 1, kind: "wheat" });
    const cleared = await direct.queue("clear", { slot: 1 });
    assert.equal(cleared.status, "ok");
    await new Promise((r) => setTimeout(r, 100)); // a few refused reconnects
    proxy.down = false;

    await waitFor(() => resumed.length === 1, "resumed");
    assert.equal(resumed[0].after, seen);
    assert.equal(resumed[0].replayed, 2, "two ledger entries: the plant and the clear");
    assert.equal(events.length, 2, "the missed event was replayed");
    assert.deepEqual(events[1].data, { slot: 1, kind: "wheat" });
    assert.notEqual(events[1].id, seen);
    assert.equal(client.lastEventId, events[1].id);
    assert.equal(client.reconnects, 1);
    // state pushes are not replayed: the client says the state must be fetched again
    assert.equal(resyncs.length, 1);
    assert.equal(resyncs[0].reason, "changes while disconnected");

    // and it is live again
    const again = await direct.queue("buy_seed", { kind: "carrot", qty: 1 });
    await waitFor(() => states.find((s) => s.cause.action_id === again.id), "a push after resume");
  });

  test("a reconnect with no event seen asks for a resync", async () => {
    const { client, direct } = await pair();
    const resyncs = [];
    client.on("resync", (f) => resyncs.push(f));
    await client.connect();
    proxy.cut();
    await waitFor(() => resyncs.length === 1 && client.connected, "the resync");
    assert.equal(resyncs[0].reason, "reconnected");
  });
});

describe("answers", () => {
  test("check says what an action would do, and writes nothing", async () => {
    const { client, direct } = await pair();
    const nothing = await client.check("harvest", { slot: 0 });
    assert.equal(nothing.status, "rejected");
    assert.equal(nothing.error.message, "Nothing is planted there");
    const [buy, plant] = await client.checkAll([
      { name: "buy_seed", params: { kind: "wheat", qty: 1 } },
      { name: "plant", params: { slot: 0, kind: "wheat" } },
    ]);
    assert.equal(buy.status, "ok");
    assert.equal(plant.status, "ok", "judged on the state the earlier one leaves");
    assert.equal((await direct.state()).version, 0, "nothing written");
  });

  test("rejections are results; a refused request is a ClientError", async () => {
    const { client, direct } = await pair();
    await client.connect();
    const unknown = await client.act("no_such_action");
    assert.equal(unknown.status, "rejected");
    assert.equal(unknown.error.code, "unknown_action");
    const broke = await client.act("buy_seed", { kind: "pumpkin", qty: 1 });
    assert.equal(broke.error.code, "precondition");
    await assert.rejects(client.act("buy_seed", {}, { id: "bad id!" }), (e) => {
      assert.ok(e instanceof ClientError);
      assert.equal(e.code, "bad_request");
      return true;
    });
    await assert.rejects(client.queue("buy_seed", {}, { id: "" }), ClientError);
    await assert.rejects(Client.guest(URL_, "no-such-game", device()), (e) => e.status === 404);
  });

  test("close fails what still waits and leaves nothing running", async () => {
    const { client, direct } = await pair({ window: 1000 });
    const waiting = client.queue("daily_gift");
    client.close();
    await assert.rejects(waiting, (e) => e.code === "closed");
  });
});
