// TypeScript declarations of the rulesc JavaScript client (client.js). With a pack's own
// declarations (`types.d.ts`, written by `rulesc build`), calls are typed by the game:
//
//   import { Client } from "./client.js";
//   import type { Actions, State, Events } from "./packs/harvest/types";
//   const client = await Client.guest<Actions, State, Events>(url, "harvest", deviceId);
//   await client.act("plant", { slot: 0, kind: "wheat" });

/** Any game: action name -> params. */
export type ActionMap = { [name: string]: Record<string, unknown> };
export type EventMap = { [name: string]: unknown };

/** A scheduled event's run (docs/protocol.md "State, ledger, rules"); times in ms UTC. */
export interface EventRun {
  name: string;
  when: string;
  sets: string[];
  starts_at: number;
  ends_at: number;
}

export interface RejectionError {
  code: "bad_params" | "unknown_action" | "precondition" | "insufficient" | "limit" | "cooldown"
    | "slot_busy" | "overflow" | "id_reused" | "busy" | "unknown_row" | "pack_fault" | (string & {});
  message: string;
  details: Record<string, unknown>;
}

/** An action's result: applied (`ok`) or `rejected`, with the server's reason. */
export type Result<E extends object = EventMap> =
  | {
      id: string;
      status: "ok";
      /** place -> [before, after], named as the rules do: `coins`, `seed[wheat]`, `field[0]` */
      changes: Record<string, [unknown, unknown]>;
      events: { [K in keyof E]: { name: K; data: E[K] } }[keyof E][];
      clamped?: Record<string, number>;
      /** answered from the server's memory: a retry of an id decided before */
      replayed?: true;
      /** on the live channel */
      version?: number;
    }
  | { id: string; status: "rejected"; error: RejectionError; replayed?: true; version?: number };

export interface StateFrame {
  type: "state";
  version: number;
  changes: Record<string, [unknown, unknown]>;
  /** what made the change: an action by name, `grant`, `inbox:receive` (a delivery
   * applied) or `inbox:set_aside` (a delivery the rules faulted on, set aside) */
  cause: { action_id: string; action: string };
}

export type EventFrame<E extends object = EventMap> =
  { [K in keyof E]: { type: "event"; id: string; name: K; data: E[K] } }[keyof E];

/** The scheduled events running now (by name) and the run that starts next. */
export interface ScheduledEvents {
  active: EventRun[];
  next: EventRun | null;
}

/** Pushed right after each `welcome`, and whenever a run of an event starts or ends.
 * `server_time`: the time they were judged at (the player's dev clock in development mode). */
export interface EventsFrame {
  type: "events";
  events: ScheduledEvents;
  server_time: number;
}

export interface ResumedFrame {
  type: "resumed";
  after: string;
  replayed: number;
  version: number;
}

export interface Pushes<E extends object> {
  state: StateFrame;
  event: EventFrame<E>;
  events: EventsFrame;
  /** what was missed cannot be told (or state pushes were missed): fetch the state */
  resync: { type: "resync"; reason?: string };
  resumed: ResumedFrame;
  open: { reconnects: number };
  close: Record<string, never>;
}

export interface ClientOptions {
  token?: string;
  /** ms queued actions wait to go together (50) */
  window?: number;
  /** how queued batches go ("http"); urgent acts always take the WebSocket */
  channel?: "http" | "ws";
  maxBatch?: number;
  /** ms to wait for an answer before resending (10000) */
  timeout?: number;
  backoff?: number;
  maxBackoff?: number;
  /** ms between the client's pings, which find half-open links (15000) */
  pingInterval?: number;
  lastEventId?: string | null;
  fetch?: typeof fetch;
  WebSocket?: typeof WebSocket;
}

export interface LedgerEntry {
  id: string;
  /** an action by name, `grant`, `inbox:receive` or `inbox:set_aside` (see SetAsideEntry) */
  action: string;
  action_id: string;
  params: unknown;
  changes: Record<string, [unknown, unknown]>;
  events: { name: string; data: unknown }[];
  time: number;
  /** `inbox:set_aside` only: the delivery the rules faulted on, as it was sent */
  effect?: Delivery;
  /** `inbox:set_aside` only: why it was set aside (`pack_fault`, with the `.rules` line) */
  error?: RejectionError;
}

/** A delivery from another player, as it was sent. */
export interface Delivery {
  /** the effect's id (the entry's `action_id`) */
  id: string;
  from: string;
  to: string;
  /** the sender's action that sent it */
  action: string;
  kind: "give" | "take" | "return";
  /** [the sender's version, its number in that commit]: the order of delivery */
  seq: [number, number];
  /** give and return: [resource, row or null, amount] */
  gains?: [string, string | null, number][];
  /** take: [resource, row or null, at most this amount] */
  take?: [string, string | null, number];
}

/** The ledger entry of a delivery the rules faulted on (outside any hook): nothing of it
 * applied, it is set aside once; an operator may grant what it carried. */
export interface SetAsideEntry extends LedgerEntry {
  action: "inbox:set_aside";
  params: { from: string; action: string; kind: "give" | "take" | "return" };
  effect: Delivery;
  error: RejectionError;
  changes: Record<string, never>;
  events: [];
}

/** Params are optional for an action that takes none. */
type ParamsArg<A extends object, K extends keyof A> =
  Record<string, never> extends A[K] ? [params?: A[K]] : [params: A[K]];

export declare class ClientError extends Error {
  status: number;
  code: string;
  details: Record<string, unknown>;
  serverMessage: string;
}

export declare class Client<A extends object = ActionMap, S = Record<string, unknown>,
  E extends object = EventMap> {
  constructor(url: string, game: string, options?: ClientOptions);
  static guest<A extends object = ActionMap, S = Record<string, unknown>,
    E extends object = EventMap>(
    url: string, game: string, deviceId: string, options?: ClientOptions,
  ): Promise<Client<A, S, E>>;

  readonly url: string;
  readonly game: string;
  token: string | null;
  playerId: string | null;
  lastEventId: string | null;
  version: number;
  reconnects: number;
  readonly connected: boolean;
  /** the scheduled events of the last `events` frame; null before the first */
  events: ScheduledEvents | null;

  signIn(deviceId: string): Promise<{ player_id: string; token: string; expires_at: number }>;
  newId(): string;
  on<T extends keyof Pushes<E>>(type: T, fn: (payload: Pushes<E>[T]) => void): () => void;

  connect(): Promise<void>;
  act<K extends keyof A & string>(name: K, ...params: [...ParamsArg<A, K>, { id?: string }?]):
    Promise<Result<E> & { type: "result" }>;
  queue<K extends keyof A & string>(name: K, ...params: [...ParamsArg<A, K>, { id?: string }?]):
    Promise<Result<E>>;
  flush(): Promise<void>;
  check<K extends keyof A & string>(name: K, ...params: ParamsArg<A, K>): Promise<Result<E>>;
  checkAll(actions: { [K in keyof A]: { name: K; params: A[K]; id?: string } }[keyof A][]):
    Promise<Result<E>[]>;
  ping(): Promise<{ type: "pong"; server_time: number }>;

  state(): Promise<{ player_id: string; version: number; server_time: number;
    rules: { version: string; hash: string }; state: S;
    events: ScheduledEvents }>;
  ledger(options?: { after?: string | null; limit?: number }): Promise<LedgerEntry[]>;
  rules(): Promise<Record<string, unknown>>;
  sendBatch(actions: { id: string; name: string; params?: unknown }[]):
    Promise<{ results: Result<E>[]; version: number; server_time: number }>;
  close(): void;
}
