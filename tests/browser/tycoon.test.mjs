// A third game in the playground, in real headless Chromium: the forms follow Boomtown's
// schema (games/tycoon) as they follow any game's. Started by tests/test_tycoon_game.py,
// which passes RULESC_URL (the server, development mode) and RULESC_CHROMIUM.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

const PLAY = `${process.env.RULESC_URL}/play/tycoon`;
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

test("open a business, skip a minute on the dev clock, collect the batch", async () => {
  const page = await (await browser.newContext()).newPage();
  page.on("pageerror", (e) => console.log("page error:", e.message));
  await page.goto(PLAY);
  await page.waitForSelector("body[data-ready='1']", WAIT);
  await shows(page, "res-cash", "100");

  await page.getByTestId("do-open_venue").click(); // slot 0, lemonade: the defaults
  await shows(page, "slot-lot-0", /lemonade/);
  await shows(page, "res-cash", "50");
  await shows(page, "reason-collect_batch", /^Ready in \d+s$/);

  await page.getByRole("button", { name: "Skip 10 minutes" }).click();
  await shows(page, "reason-collect_batch", "");
  await page.waitForFunction(() => !document.querySelector("[data-testid=do-collect_batch]").disabled);
  await page.getByTestId("do-collect_batch").click();
  await shows(page, "res-cash", /^\s*(56|62)\s*$/); // one batch of 6, or a lucky double
  const ok = page.locator("#log li.ok").filter({ hasText: "collect_batch(slot: 0)" }).first();
  assert.match(await ok.innerText(), /cash 50 → (56|62)/);
});
