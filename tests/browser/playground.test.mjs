// The playground in real headless Chromium (Debian's, driven by playwright-core), against a
// real server started by tests/test_playground_browser.py, which passes:
//   RULESC_URL        the server (development mode), RULESC_CHROMIUM  the browser,
//   RULESC_GAME_DIR   the watched game folder (this test edits its rules),
//   RULESC_SCREENSHOT where to save the picture for the README.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";

import { chromium } from "playwright-core";

const URL_ = process.env.RULESC_URL;
const PLAY = `${URL_}/play/harvest`;
const WAIT = { timeout: 5000 };

let browser;
let context;
let first; // the player's first device
let second; // the same player, signed in again from another tab

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.RULESC_CHROMIUM,
    // playwright runs headless with a fresh profile of its own (a new --user-data-dir);
    // without the networking flags Chromium keeps calling out to Google's hosts; the tab
    // not in front keeps its timers at full speed (two tabs play at once here)
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
      "--disable-backgrounding-occluded-windows"],
  });
  context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  context.on("weberror", (e) => console.log("page error:", e.error().message));
});

after(async () => {
  await browser?.close();
});

async function ready(page) {
  await page.waitForSelector("body[data-ready='1']", WAIT);
  await page.locator("#conn.live").waitFor(WAIT);
}

/** Wait until the element with this test id shows exactly `text` (or matches a RegExp). */
async function shows(page, testId, text) {
  if (text === "") {
    await page.waitForFunction((id) => document.querySelector(`[data-testid=${id}]`)?.textContent === "",
      testId, WAIT);
    return;
  }
  const hasText = text instanceof RegExp ? text : new RegExp(`^\\s*${text}\\s*$`);
  await page.getByTestId(testId).filter({ hasText }).waitFor(WAIT);
}

/** The tab a test acts in must be the visible one: a hidden tab's animation frames are
 * throttled, and clicks wait for them. */
async function front(page) {
  await page.bringToFront();
  return page;
}

describe("the playground", () => {
  test("two devices of one player: an action in one shows in the other, no reload", async () => {
    // a slow poll: what shows in the other tab must come pushed, not fetched
    first = await context.newPage();
    await first.goto(`${PLAY}?poll=60`);
    await ready(first);
    const [popup] = await Promise.all([
      context.waitForEvent("page"),
      first.getByRole("button", { name: "Second device" }).click(),
    ]);
    second = popup;
    await ready(second);
    assert.equal(await second.locator("#player").innerText(), await first.locator("#player").innerText());
    assert.match(second.url(), /device=play-/);

    await front(first);
    await first.getByTestId("form-buy_seed").locator("input[name=qty]").fill("3");
    await first.getByTestId("do-buy_seed").click();
    await shows(first, "item-seed-wheat", "3");
    await shows(second, "item-seed-wheat", "3");
    await shows(second, "res-coins", "185");

    await (await front(second)).getByTestId("do-plant").click(); // slot 0, wheat: the defaults
    await shows(first, "slot-field-0", /wheat/);
    await shows(first, "item-seed-wheat", "2");
    await shows(first, "res-energy", "29");
    await first.locator("#ledger li").filter({ hasText: "plant(slot: 0, kind: wheat)" }).waitFor(WAIT);
  });

  test("an action that would fail is greyed out with the server's reason; sent anyway, it shows the rejection", async () => {
    await front(first);
    const harvest = first.getByTestId("do-harvest");
    await shows(first, "reason-harvest", /^Ready in \d+m\d+s$/);
    assert.equal(await harvest.isDisabled(), true);

    await first.locator("#send-anyway").check();
    await first.waitForFunction(() => !document.querySelector("[data-testid=do-harvest]").disabled);
    await harvest.click();
    const rejected = first.locator("#log li.rejected").first();
    await rejected.waitFor(WAIT);
    assert.match(await rejected.innerText(), /harvest\(slot: 0\)\s+rejected: precondition\s+Ready in \d+m\d+s/);
    await first.locator("#send-anyway").uncheck();
  });

  test("the dev clock makes the crop ready: skip 10 minutes, then harvest", async () => {
    await first.getByRole("button", { name: "Skip 10 minutes" }).click();
    await shows(first, "slot-field-0", /ready_at\s+ready/);
    await shows(first, "reason-harvest", "");
    await first.waitForFunction(() => !document.querySelector("[data-testid=do-harvest]").disabled);
    await first.locator("#offset").filter({ hasText: "skipped 10:00 ahead" }).waitFor(WAIT);

    await first.getByTestId("do-harvest").click();
    await shows(first, "item-produce-wheat", "3");
    await shows(second, "item-produce-wheat", "3");
    await shows(first, "slot-field-0", "empty");
    const ok = first.locator("#log li.ok").filter({ hasText: "harvest(slot: 0)" }).first();
    assert.match(await ok.innerText(), /produce\[wheat\] 0 → 3/);

    // a few more things to see, then the picture for the README
    await first.getByTestId("do-plant").click();
    await shows(first, "slot-field-0", /wheat/);
    await first.getByTestId("form-buy_seed").locator("select[name=kind]").selectOption("carrot");
    await first.getByTestId("form-buy_seed").locator("input[name=qty]").fill("1");
    await first.getByTestId("do-buy_seed").click();
    await shows(first, "item-seed-carrot", "1");
    await first.getByTestId("form-plant").locator("input[name=slot]").fill("1");
    await first.getByTestId("form-plant").locator("select[name=kind]").selectOption("carrot");
    await first.getByTestId("do-plant").click();
    await shows(first, "slot-field-1", /carrot/);
    await first.getByTestId("form-plant").locator("input[name=slot]").fill("0");
    await first.getByTestId("reason-plant").filter({ hasText: "That plot is busy" }).waitFor(WAIT);
    await first.locator("#ledger li").filter({ hasText: "plant(slot: 1, kind: carrot)" }).waitFor(WAIT);
    if (process.env.RULESC_SCREENSHOT) {
      await first.screenshot({ path: process.env.RULESC_SCREENSHOT });
    }
  });

  test("a live channel that does not open at start: the page says what to do and retries", async () => {
    const page = await context.newPage();
    let silent = true;
    // the first WebSocket opens but the server's welcome never comes; the next goes through
    await page.routeWebSocket(/\/ws\?/, (ws) => {
      if (silent) {
        silent = false;
        return;
      }
      ws.connectToServer();
    });
    await page.goto(`${PLAY}?timeout=1`);
    await page.locator("#banner")
      .filter({ hasText: /did not answer the WebSocket in 1 s .*is it running\? Retrying in 3 s/ })
      .waitFor(WAIT);
    await ready(page);
    assert.equal(await page.locator("#banner").isHidden(), true);
    await page.close();
  });

  test("a rules change picked up by --watch reloads the forms", async () => {
    const page = await context.newPage();
    await page.goto(`${PLAY}?poll=0.3`);
    await ready(page);
    assert.equal(await page.getByTestId("form-pet_the_cat").count(), 0);
    const rules = `${process.env.RULESC_GAME_DIR}/harvest.rules`;
    fs.appendFileSync(rules, "\naction pet_the_cat(times: int 1..3, gently: bool)\n"
      + '  require gently else "Be gentle"\n  gain coins times\n');
    const form = page.getByTestId("form-pet_the_cat");
    await form.waitFor({ timeout: 15000 });
    await page.locator("#banner").filter({ hasText: "The rules changed" }).waitFor(WAIT);
    // the form follows the params' JSON Schema: an int with its bounds, a bool as a checkbox
    const times = form.locator("input[name=times]");
    assert.deepEqual([await times.getAttribute("min"), await times.getAttribute("max")], ["1", "3"]);
    await shows(page, "reason-pet_the_cat", "Be gentle");
    await form.locator("input[name=gently][type=checkbox]").check();
    await times.fill("2");
    await shows(page, "reason-pet_the_cat", "");
    await page.getByTestId("do-pet_the_cat").click();
    await page.locator("#log li.ok").filter({ hasText: "pet_the_cat(times: 2, gently: true)" }).waitFor(WAIT);
    await page.close();
  });
});
