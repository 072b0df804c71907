// Compiled (never run) by tests/test_js_client.py: the client's declarations with a pack's
// types.d.ts make a game's calls typed. Each @ts-expect-error line must fail to compile.
import { Client } from "../../runtime/static/client.js";
import type { SetAsideEntry } from "../../runtime/static/client.js";
import type {
  Actions, Events, EventsFrame, ScheduledEventName, State,
} from "../golden/harvest_pack/types";

export async function play(url: string): Promise<number> {
  const client = await Client.guest<Actions, State, Events>(url, "harvest", "device-0001");
  await client.connect();
  const planted = await client.act("plant", { slot: 0, kind: "wheat" });
  if (planted.status === "rejected") console.log(planted.error.message);
  await client.act("daily_gift");
  await client.queue("buy_seed", { kind: "corn", qty: 2 }, { id: "my-id-1" });
  const would = await client.check("harvest", { slot: 0 });
  // @ts-expect-error: rice is not a crop
  await client.act("plant", { slot: 0, kind: "rice" });
  // @ts-expect-error: there is no action `plnt`
  await client.act("plnt", { slot: 0 });
  // @ts-expect-error: `qty` is missing
  await client.queue("buy_seed", { kind: "corn" });
  // @ts-expect-error: plant takes params
  await client.act("plant");
  client.on("event", (e) => {
    if (e.name === "order_filled") console.log(e.data.coins + 1, e.data.kind);
  });
  client.on("state", (f) => console.log(f.changes, f.cause.action_id));
  client.on("events", (f) => console.log(f.events.active.length, f.events.next?.starts_at, f.server_time));
  const running: number = client.events?.active.length ?? 0;
  const festival: ScheduledEventName = "harvest_festival";
  // @ts-expect-error: harvest has no scheduled event `harvest_fest`
  const misspelt: ScheduledEventName = "harvest_fest";
  const frame = (f: EventsFrame): boolean => f.events.next?.name === festival;
  console.log(running, misspelt, frame);
  for (const e of await client.ledger()) {
    if (e.effect !== undefined && e.error !== undefined) {  // an inbox:set_aside entry
      console.log(e.effect.from, e.effect.kind, e.effect.gains?.[0]?.[2], e.error.code === "pack_fault");
    }
    // @ts-expect-error: `error` is only on an inbox:set_aside entry
    console.log(e.error.message);
  }
  const aside = (e: SetAsideEntry): string => e.effect.to + e.error.message + e.params.from;
  // @ts-expect-error: a set-aside entry's action is inbox:set_aside
  const receive: SetAsideEntry["action"] = "inbox:receive";
  console.log(aside, receive);
  const { state } = await client.state();
  const ready: number = state.field[0]?.ready_at ?? 0;
  client.close();
  return state.seed.wheat + state.energy + ready + (would.status === "ok" ? 1 : 0);
}
