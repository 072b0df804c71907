// The playground's clock card follows `events` pushes, in real headless Chromium, against
// a development-mode server started by tests/test_playground_browser.py whose clock reads
// an hour before harvest's festival. It passes RULESC_URL, RULESC_CHROMIUM and
// RULESC_FESTIVAL (the festival's start, ms). The page polls /state once in ten minutes:
// what changes on the card can only have come pushed.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

const URL_ = process.env.RULESC_URL;
const FESTIVAL = Number(process.env.RULESC_FESTIVAL);
const DEVICE = `play-events-card-${process.pid}`;
const WAIT = { timeout: 5000 };

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.RULESC_CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
});

async function api(path, method = "GET", body = undefined, token = undefined) {
  const response = await fetch(`${URL_}${path}`, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  assert.equal(response.status, 200, JSON.stringify(answer));
  return answer;
}

test("the clock card shows the festival starting, pushed, without a reload", async () => {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.log("page error:", e.message));
  await page.goto(`${URL_}/play/harvest?poll=600&device=${DEVICE}`);
  await page.waitForSelector("body[data-ready='1']", WAIT);
  await page.locator("#conn.live").waitFor(WAIT);
  await page.getByTestId("event-next").filter({ hasText: "harvest_festival" }).waitFor(WAIT);
  assert.equal(await page.getByTestId("event-harvest_festival").count(), 0);

  // the same player (same device id) moves its clock to 3 s before the festival's start
  const { token } = await api("/v1/harvest/session", "POST", { device_id: DEVICE });
  const clock = await api("/v1/harvest/dev/clock", "GET", undefined, token);
  const skip = FESTIVAL - clock.server_time - 3000;
  assert.ok(skip > 0, `the festival should be ahead (${skip} ms)`);
  await api("/v1/harvest/dev/clock", "POST", { skip_ms: skip }, token);

  const running = page.getByTestId("event-harvest_festival");
  await running.waitFor({ timeout: 10000 });
  assert.match(await running.innerText(), /running: harvest_festival/);
  assert.equal(await page.getByTestId("event-next").count(), 0);
  await page.locator("#log li.ok").filter({ hasText: "running: harvest_festival" }).waitFor(WAIT);
  await page.close();
});
