// The JavaScript client hears the scheduled events (`events` frames), against a real
// server started by tests/test_js_client.py whose clock reads a moment before harvest's
// festival starts: RULESC_URL the server, RULESC_FESTIVAL the festival's start (ms).
// (Not a *.test.mjs: those run against a server on the real clock.)
import "./websocket.mjs"; // before the client: a WebSocket on every supported node
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { Client } from "../../runtime/static/client.js";

const URL_ = process.env.RULESC_URL;
const FESTIVAL = Number(process.env.RULESC_FESTIVAL);
if (!URL_ || !FESTIVAL) throw new Error("run these through tests/test_js_client.py");

const clients = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

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

test("the events after welcome, then the festival's start, on every client", async () => {
  const heard = [[], []];
  for (const [i, device] of ["js-events-1", "js-events-2"].entries()) {
    const client = await Client.guest(URL_, "harvest", `${device}-${process.pid}`);
    clients.push(client);
    client.on("events", (frame) => heard[i].push(frame));
    await client.connect();
  }
  for (const [i, client] of clients.entries()) {
    await waitFor(() => heard[i].length >= 1, "the first events frame");
    const [first] = heard[i];
    assert.equal(first.type, "events");
    assert.deepEqual(first.events.active, []);
    assert.equal(first.events.next.name, "harvest_festival");
    assert.equal(first.events.next.starts_at, FESTIVAL);
    assert.ok(first.server_time < FESTIVAL);
    assert.deepEqual(client.events, first.events);
  }
  for (const [i, client] of clients.entries()) {
    await waitFor(() => heard[i].length >= 2, "the festival's start");
    const started = heard[i][1];
    assert.deepEqual(started.events.active.map((e) => e.name), ["harvest_festival"]);
    assert.equal(started.events.next, null);
    assert.ok(started.server_time >= FESTIVAL);
    assert.deepEqual(client.events, started.events); // the latest
  }
});
