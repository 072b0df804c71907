// The rulesc playground: play a game's rules the minute they are saved (development mode).
// Plain DOM and the JS client; everything the page shows comes from the server: the rules
// (/rules: resources, slots, actions with their params' JSON Schema), the state and its
// pushes, the ledger, and the player's dev clock (/dev/clock).
import { Client } from "rulesc-client";

const GAME = document.body.dataset.game;
const query = new URLSearchParams(location.search);
// how often the page asks for /state: the rules' version (a --watch swap reloads them)
// and the dev clock another device may have moved. Changes themselves come pushed.
const POLL_MS = Number(query.get("poll") ?? 3) * 1000;
// how long the server may take to answer (a request, the WebSocket's welcome), in seconds
const TIMEOUT_MS = Number(query.get("timeout") ?? 10) * 1000;
const START_RETRY_MS = 3000; // the live channel did not open at start: try again after this
const RECHECK_MS = 2000; // time alone can make an action possible (a crop ripens)
// Checking costs one request per form, and requests count against the player's rate limit
// (shared by all their tabs): checks run at most this often, and only in a visible tab.
const RECHECK_GAP_MS = 1000;
const LEDGER_KEEP = 200;

const $ = (id) => document.getElementById(id);
const model = {
  rules: null, // the /rules answer
  state: null,
  version: 0, // of the state shown
  fetchedVersion: -1, // of the last /state fetched: pushes up to it are in it already
  sync: { serverTime: Date.now(), at: performance.now() }, // the player's clock
  offset: 0,
  meters: {}, // name -> {value, since}: when each meter last ticked
  ledger: [],
  ledgerAfter: null,
  // scheduled events, as the server judged them last (an `events` push or /state), and at
  // what player time: the later judgement wins
  events: { active: [], next: null },
  eventsAt: 0,
};
let client;

// -- small helpers --

function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function playerNow() {
  return model.sync.serverTime + (performance.now() - model.sync.at);
}

function setClock(serverTime) {
  model.sync = { serverTime, at: performance.now() };
}

function fmtDuration(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

const TIME_LIKE = 1e12; // a number this large is a time (ms since the epoch), not a count

function fmtValue(v) {
  if (v === null) return "empty";
  if (typeof v === "object") return Object.entries(v).map(([k, x]) => `${k}=${fmtValue(x)}`).join(" ");
  if (typeof v === "number" && v > TIME_LIKE) return new Date(v).toISOString().slice(11, 19);
  return String(v);
}

function fmtChanges(changes) {
  return Object.entries(changes ?? {})
    .map(([place, [before, after]]) => `${place} ${fmtValue(before)} → ${fmtValue(after)}`)
    .join(", ");
}

function fmtParams(params) {
  return Object.entries(params ?? {}).map(([k, v]) => `${k}: ${v}`).join(", ");
}

function banner(text) {
  const el = $("banner");
  el.textContent = text;
  el.hidden = !text;
}

// -- identity --

function deviceId() {
  const key = `rulesc.play.${GAME}.device`;
  const given = query.get("device"); // "Another player" and "Second device" tabs
  if (given) return given;
  let id = localStorage.getItem(key);
  if (!id) {
    id = `play-${crypto.randomUUID()}`;
    localStorage.setItem(key, id);
  }
  return id;
}

function openTab(device) {
  const url = new URL(location.href);
  url.searchParams.set("device", device);
  window.open(url.toString(), "_blank");
}

// -- reading from the server --

async function loadRules() {
  const before = model.rules?.rules?.version;
  model.rules = await client.rules();
  buildForms();
  if (before && before !== model.rules.rules.version) {
    banner(`The rules changed: now pack ${model.rules.rules.version} (was ${before}).`);
  }
}

async function refreshState() {
  const answer = await client.state();
  if (answer.version >= model.version) {
    // (an answer older than a push already shown would take that change back)
    model.state = answer.state;
    model.version = answer.version;
  }
  model.fetchedVersion = Math.max(model.fetchedVersion, answer.version);
  setClock(answer.server_time);
  takeEvents(answer.events || { active: [], next: null }, answer.server_time);
  if (model.rules && answer.rules.version !== model.rules.rules.version) await loadRules();
}

function takeEvents(events, at) {
  if (at < model.eventsAt) return; // an older judgement than the one shown
  model.events = events;
  model.eventsAt = at;
}

/** Pushed after each welcome and whenever an event starts or ends: no reload, no poll. */
function onEventsPush(frame) {
  const before = model.events.active.map((e) => e.name).join(", ");
  takeEvents(frame.events, frame.server_time);
  const now = model.events.active.map((e) => e.name).join(", ");
  if (model.state !== null && now !== before) {
    logLine("ok", "events", "pushed", now ? `running: ${now}` : "none running");
  }
  render();
}

async function devClock(method = "GET", body = undefined) {
  const response = await fetch(`/v1/${GAME}/dev/clock`, {
    method,
    headers: { Authorization: `Bearer ${client.token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error?.message ?? response.statusText);
  model.offset = answer.offset_ms;
  model.meters = answer.meters;
  setClock(answer.server_time);
  return answer;
}

// one at a time: two at once would both fetch after the same entry
let ledgerTurn = Promise.resolve();
function refreshLedger() {
  ledgerTurn = ledgerTurn.then(fetchLedger, fetchLedger);
  return ledgerTurn;
}

async function fetchLedger() {
  for (;;) {
    const page = await client.ledger({ after: model.ledgerAfter, limit: 200 });
    if (page.length === 0) break;
    model.ledger.push(...page);
    model.ledgerAfter = page[page.length - 1].id;
    if (page.length < 200) break;
  }
  model.ledger = model.ledger.slice(-LEDGER_KEEP);
  renderLedger();
}

async function refreshAll() {
  await refreshState();
  await devClock();
  await refreshLedger();
  render();
  recheck();
}

// several pushes in a row (a batch) are one refresh of what they do not carry
let followUp = null;
function scheduleFollowUp() {
  clearTimeout(followUp);
  followUp = setTimeout(async () => {
    try {
      await devClock(); // a meter's tick time moves when it is spent from full
      await refreshLedger();
    } catch (e) {
      console.warn("refresh failed", e);
    }
  }, 80);
}

// -- pushes --

function applyChanges(changes) {
  for (const [place, [, after]] of Object.entries(changes)) {
    const m = /^([A-Za-z0-9_]+)\[(.+)\]$/.exec(place);
    if (m === null) {
      model.state[place] = after;
      if (model.meters[place]) model.meters[place].value = after;
    } else if (Array.isArray(model.state[m[1]])) {
      model.state[m[1]][Number(m[2])] = after;
    } else if (model.state[m[1]]) {
      model.state[m[1]][m[2]] = after;
    }
  }
}

function onStatePush(frame) {
  if (model.state === null || frame.version <= model.fetchedVersion) return; // shown already
  applyChanges(frame.changes);
  model.version = Math.max(model.version, frame.version);
  render();
  scheduleFollowUp();
  recheck();
}

// -- rendering --

function meterNow(name, res, t) {
  const info = model.meters[name];
  const value = model.state[name];
  if (!res.regen || !info || res.max === undefined) return { value, part: 0, next: null };
  const { amount, every_ms: every } = res.regen;
  if (info.value >= res.max) return { value: info.value, part: 1, next: null };
  const ticks = Math.max(0, Math.floor((t - info.since) / every));
  const now = Math.min(res.max, info.value + ticks * amount);
  if (now >= res.max) return { value: now, part: 1, next: null };
  const since = info.since + ticks * every;
  return { value: now, part: (t - since) / every, next: since + every - t, amount };
}

function renderResources(t) {
  const rows = [];
  for (const [name, res] of Object.entries(model.rules.resources)) {
    if (res.kind === "item") continue; // items are the inventory
    let extra = "";
    let value = model.state[name];
    if (res.kind === "meter") {
      const m = meterNow(name, res, t);
      value = m.value;
      const fill = (100 * (m.value + (m.next === null ? 0 : m.part * (m.amount ?? 1)))) / res.max;
      const note = m.next === null ? "full" : `+${m.amount} in ${fmtDuration(m.next)}`;
      extra = `<div class="bar"><span style="width:${Math.min(100, fill).toFixed(1)}%"></span></div>
        <span class="tag">${esc(note)}</span>`;
    }
    const max = res.max !== undefined ? `<span class="tag">/ ${res.max}</span>` : "";
    rows.push(`<tr><th>${esc(name)}<span class="tag">${esc(res.kind)}</span></th>
      <td class="num" data-testid="res-${esc(name)}">${esc(value)}</td><td>${max}</td><td>${extra}</td></tr>`);
  }
  const level = model.rules.level;
  if (level && model.state.level !== undefined) {
    const next = level.thresholds[model.state.level];
    const toGo = next === undefined ? "top level" : `next at ${next} ${level.from}`;
    rows.push(`<tr><th>level</th><td class="num" data-testid="res-level">${esc(model.state.level)}</td>
      <td></td><td><span class="tag">${esc(toGo)}</span></td></tr>`);
  }
  $("resources").innerHTML = `<table>${rows.join("")}</table>`;
}

function renderSlots(t) {
  const parts = [];
  for (const [name, spec] of Object.entries(model.rules.slots)) {
    const rows = (model.state[name] ?? []).map((slot, i) => {
      if (slot === null) {
        return `<tr><th>${esc(name)}[${i}]</th><td class="slot-empty" data-testid="slot-${esc(name)}-${i}">empty</td></tr>`;
      }
      const cells = Object.entries(spec.fields).map(([field, type]) => {
        const v = slot[field];
        if (type !== "time") return `${esc(field)} <b>${esc(v)}</b>`;
        return v <= t
          ? `${esc(field)} <span class="ready">ready</span>`
          : `${esc(field)} <span class="waiting">in ${fmtDuration(v - t)}</span>`;
      });
      return `<tr><th>${esc(name)}[${i}]</th><td data-testid="slot-${esc(name)}-${i}">${cells.join(" · ")}</td></tr>`;
    });
    parts.push(`<table>${rows.join("")}</table>`);
  }
  $("slots").innerHTML = parts.join("") || `<span class="muted">This game has no slots.</span>`;
}

function renderInventory() {
  const parts = [];
  const plain = [];
  for (const [name, res] of Object.entries(model.rules.resources)) {
    if (res.kind !== "item") continue;
    if (!res.per) {
      plain.push(`<tr><th>${esc(name)}</th><td class="num" data-testid="res-${esc(name)}">${esc(model.state[name])}</td></tr>`);
      continue;
    }
    const row = model.state[name] ?? {};
    if (res.per2) { parts.push(pairTable(name, res, row)); continue; }
    const cells = Object.keys(model.rules.tables[res.per]?.rows ?? row).map((key) =>
      `<tr><td>${esc(key)}</td><td class="num" data-testid="item-${esc(name)}-${esc(key)}">${esc(row[key])}</td></tr>`);
    const max = res.max !== undefined ? `<span class="tag">max ${res.max} each</span>` : "";
    parts.push(`<table><tr><th colspan="2">${esc(name)} <span class="tag">per ${esc(res.per)}</span>${max}</th></tr>${cells.join("")}</table>`);
  }
  if (plain.length) parts.push(`<table>${plain.join("")}</table>`);
  $("inventory").innerHTML = parts.join("") || `<span class="muted">No items.</span>`;
}

// an item of two tables: a grid, a row per row of `per`, a column per row of `per2`
// (the state holds it nested: produce.wheat.gold)
function pairTable(name, res, held) {
  const firsts = Object.keys(model.rules.tables[res.per]?.rows ?? held);
  const seconds = Object.keys(model.rules.tables[res.per2]?.rows ?? held[firsts[0]] ?? {});
  const head = seconds.map((q) => `<th>${esc(q)}</th>`).join("");
  const rows = firsts.map((k) => `<tr><td>${esc(k)}</td>` + seconds.map((q) =>
    `<td class="num" data-testid="item-${esc(name)}-${esc(k)}-${esc(q)}">${esc((held[k] ?? {})[q])}</td>`).join("") + "</tr>");
  const max = res.max !== undefined ? `<span class="tag">max ${res.max} each</span>` : "";
  const title = `${esc(name)} <span class="tag">per ${esc(res.per)}, ${esc(res.per2)}</span>${max}`;
  return `<table><tr><th colspan="${seconds.length + 1}">${title}</th></tr><tr><td></td>${head}</tr>${rows.join("")}</table>`;
}

function renderClock(t) {
  $("clock").textContent = new Date(t).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  $("offset").textContent = model.offset ? `(skipped ${fmtDuration(model.offset)} ahead)` : "";
  renderEvents(t);
}

function renderEvents(t) {
  // as the server last told them (pushed, or /state): what they set already applies there
  const shown = (e) => `<b>${esc(e.name)}</b> <span class="muted">${esc(e.sets.join(", "))}</span>`;
  const lines = model.events.active.map(
    (e) => `<div data-testid="event-${esc(e.name)}">running: ${shown(e)} — ends in ${fmtDuration(e.ends_at - t)}</div>`);
  const next = model.events.next;
  if (next) lines.push(`<div data-testid="event-next">next: ${shown(next)} — in ${fmtDuration(next.starts_at - t)}</div>`);
  $("events").innerHTML = lines.join("");
}

function render() {
  if (model.state === null || model.rules === null) return;
  const t = playerNow();
  renderClock(t);
  renderResources(t);
  renderSlots(t);
  renderInventory();
}

function renderLedger() {
  $("ledger").innerHTML = model.ledger.slice().reverse().map((e) => `<li>
      <span class="what">${esc(e.action)}(${esc(fmtParams(e.action === "admin:grant" ? {} : e.params))})</span>
      <span class="detail">${esc(fmtChanges(e.changes))}${e.events?.length ? " · events: " + esc(e.events.map((x) => x.name).join(", ")) : ""}</span>
      <span class="detail">${esc(new Date(e.time).toISOString().slice(11, 19))} · ${esc(e.action_id)}</span>
    </li>`).join("");
}

// -- action log --

function logLine(cls, what, status, detail) {
  const li = document.createElement("li");
  li.className = cls;
  li.innerHTML = `<span class="what">${esc(what)}</span> <span class="status">${esc(status)}</span>
    <span class="detail">${esc(detail)}</span>`;
  const log = $("log");
  log.prepend(li);
  while (log.children.length > 200) log.lastChild.remove();
  return li;
}

function logResult(li, what, result) {
  li.remove();
  if (result.status === "ok") {
    const events = result.events?.length ? ` · events: ${result.events.map((e) => e.name).join(", ")}` : "";
    const replay = result.replayed ? " (replayed)" : "";
    return logLine("ok", what, `ok${replay}`, (fmtChanges(result.changes) || "no change") + events);
  }
  return logLine("rejected", what, `rejected: ${result.error.code}`, result.error.message);
}

// -- action forms, from the pack's JSON Schema --

function actionOrder([, a]) {
  const line = Number(String(a.source ?? "").split(":").pop());
  return Number.isFinite(line) ? line : 1e9;
}

function buildForms() {
  const keep = readAllForms(); // what was typed survives a rules reload
  const forms = $("forms");
  forms.innerHTML = "";
  const actions = Object.entries(model.rules.actions).sort((a, b) => actionOrder(a) - actionOrder(b));
  for (const [name, spec] of actions) {
    const form = document.createElement("form");
    form.className = "action";
    form.dataset.action = name;
    form.dataset.testid = `form-${name}`;
    const schema = spec.params;
    const fields = (schema.required ?? Object.keys(schema.properties ?? {})).map((param) => {
      const p = schema.properties[param];
      const old = keep[name]?.[param];
      if (p.enum) {
        const opts = p.enum.map((v) => `<option${old === v ? " selected" : ""}>${esc(v)}</option>`);
        return `<label>${esc(param)} <select name="${esc(param)}">${opts.join("")}</select></label>`;
      }
      if (p.type === "boolean") {
        return `<label><input type="checkbox" name="${esc(param)}"${old ? " checked" : ""}> ${esc(param)}</label>`;
      }
      if (p.type === "string") { // another player (x-player): their id, as /session gives it
        const what = p["x-player"] ? "a player id" : "";
        return `<label>${esc(param)} <input type="text" name="${esc(param)}" value="${esc(old ?? "")}" placeholder="${what}"></label>`;
      }
      const value = old ?? p.minimum ?? 0;
      const bounds = `${p.minimum !== undefined ? ` min="${p.minimum}"` : ""}${p.maximum !== undefined ? ` max="${p.maximum}"` : ""}`;
      const hint = p["x-slots"] ? ` <span class="tag">${esc(p["x-slots"])} slot</span>` : "";
      return `<label>${esc(param)} <input type="number" step="1" name="${esc(param)}" value="${esc(value)}"${bounds}>${hint}</label>`;
    });
    form.innerHTML = `<div class="head"><b>${esc(name)}</b><span class="tag">${esc(spec.source ?? "")}</span></div>
      ${fields.length ? `<div class="fields">${fields.join("")}</div>` : ""}
      <div class="head"><button type="submit" data-testid="do-${esc(name)}">${esc(name.replaceAll("_", " "))}</button>
      <span class="reason" data-testid="reason-${esc(name)}"></span></div>`;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      send(name, readForm(form));
    });
    form.addEventListener("input", () => recheck());
    forms.append(form);
  }
  recheck();
}

function readForm(form) {
  const params = {};
  const schema = model.rules.actions[form.dataset.action]?.params ?? { properties: {} };
  for (const el of form.querySelectorAll("input, select")) {
    const p = schema.properties?.[el.name];
    if (!p) continue;
    if (el.type === "checkbox") params[el.name] = el.checked;
    else if (p.type === "integer") {
      if (el.value !== "") params[el.name] = Number(el.value); // empty: let the server say so
    } else params[el.name] = el.value;
  }
  return params;
}

function readAllForms() {
  const out = {};
  for (const form of document.querySelectorAll("form.action")) {
    out[form.dataset.action] = readForm(form);
  }
  return out;
}

async function send(name, params) {
  const what = `${name}(${fmtParams(params)})`;
  const pending = logLine("pending", what, "…", "");
  try {
    const result = $("channel").value === "queue"
      ? await client.queue(name, params)
      : await client.act(name, params);
    logResult(pending, what, result);
  } catch (e) {
    pending.remove();
    logLine("error", what, `error: ${e.code ?? "failed"}`, e.serverMessage ?? e.message);
  }
  recheck();
}

// Each form is checked on its own (one call each: a batch would judge each action on the
// state the earlier ones leave); a button is greyed out with the server's reason.
let rechecking = false;
let recheckAgain = false;
let lastCheck = 0;
let recheckTimer = null;
function recheck() {
  if (document.hidden) {
    recheckAgain = true; // done when the tab shows again
    return;
  }
  const wait = lastCheck + RECHECK_GAP_MS - performance.now();
  if (rechecking || wait > 0) {
    recheckAgain = true;
    if (!rechecking && recheckTimer === null) {
      recheckTimer = setTimeout(() => {
        recheckTimer = null;
        recheck();
      }, wait);
    }
    return;
  }
  recheckAgain = false;
  checkForms();
}

async function checkForms() {
  rechecking = true;
  lastCheck = performance.now();
  try {
    const forms = [...document.querySelectorAll("form.action")];
    const results = await Promise.all(forms.map((f) =>
      client.check(f.dataset.action, readForm(f)).catch((e) => ({ status: "error", e }))));
    const anyway = $("send-anyway").checked;
    forms.forEach((form, i) => {
      const r = results[i];
      const button = form.querySelector("button");
      const reason = form.querySelector(".reason");
      const fails = r.status === "rejected";
      button.classList.toggle("would-fail", fails);
      button.disabled = fails && !anyway;
      reason.textContent = fails ? r.error.message : "";
    });
  } finally {
    rechecking = false;
    if (recheckAgain) recheck();
  }
}

// -- start --

async function skip(ms) {
  try {
    const answer = await devClock("POST", { skip_ms: ms });
    logLine("ok", "clock", `skipped ${fmtDuration(ms)}`, `offset now ${fmtDuration(answer.offset_ms)}`);
  } catch (e) {
    logLine("error", "clock", "refused", e.message);
  }
  render();
  recheck();
}

async function main() {
  const device = deviceId();
  $("device").textContent = device.slice(0, 18);
  $("device").title = device;
  client = await Client.guest(location.origin, GAME, device, { window: 100, timeout: TIMEOUT_MS });
  $("player").textContent = client.playerId;
  $("second-device").addEventListener("click", () => openTab(device));
  $("other-player").addEventListener("click", () => openTab(`play-${crypto.randomUUID()}`));
  for (const b of document.querySelectorAll("#clock-card button[data-ms]")) {
    b.addEventListener("click", () => skip(Number(b.dataset.ms)));
  }
  $("send-anyway").addEventListener("change", () => {
    const anyway = $("send-anyway").checked;
    for (const b of document.querySelectorAll("form.action button")) {
      b.disabled = b.classList.contains("would-fail") && !anyway;
    }
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && recheckAgain) recheck();
  });

  client.on("state", onStatePush);
  client.on("event", (f) => logLine("ok", `event ${f.name}`, "pushed", JSON.stringify(f.data)));
  client.on("events", onEventsPush);
  client.on("resync", () => refreshAll().catch((e) => console.warn(e)));
  client.on("open", () => { $("conn").textContent = "live"; $("conn").className = "conn live"; });
  client.on("close", () => { $("conn").textContent = "reconnecting"; $("conn").className = "conn down"; });

  model.rules = await client.rules();
  // pushes from here on: the state fetched next misses nothing
  await untilItWorks(() => client.connect());
  banner("");
  await refreshAll();
  buildForms();
  document.body.dataset.ready = "1";

  setInterval(render, 250);
  setInterval(() => recheck(), RECHECK_MS);
  setInterval(async () => {
    try {
      await refreshState();
      await devClock();
      render();
    } catch (e) {
      console.warn("poll failed", e);
    }
  }, POLL_MS);
}

/** A start-up step, tried again every few seconds until it works, saying what to do. */
async function untilItWorks(step) {
  for (;;) {
    try {
      return await step();
    } catch (e) {
      if (e.code !== "unreachable") throw e; // refused for good: retrying won't help
      console.warn(e);
      banner(`The server at ${location.origin} did not answer the WebSocket in ` +
        `${client.timeout / 1000} s (${e.serverMessage}): is it running? ` +
        `Retrying in ${START_RETRY_MS / 1000} s...`);
      await new Promise((resolve) => setTimeout(resolve, START_RETRY_MS));
      banner(`Connecting to ${location.origin}...`);
    }
  }
}

main().catch((e) => {
  banner(`The playground could not start: ${e.message}. Reload the page to try again.`);
  console.error(e);
});
