// Where each configured destination stands, as the overview and the destinations page show it:
// the config, the store (gone, paused, queue, activity) and the worker (Retry-After) together.

import type { DestinationActivity, QueueStats } from "../store.ts";
import type { ConsoleOptions } from "./options.ts";

/** A destination's state, most decisive first. */
export type StateKind =
  | "off"
  | "gone"
  | "paused"
  | "waiting"
  | "retrying"
  | "delivering"
  | "idle";

/** One destination as the console shows it. */
export interface DestinationRow {
  name: string;
  type: string;
  /** Enabled in the config. */
  configured: boolean;
  state: StateKind;
  /** The state in words, such as "waiting on the service's Retry-After until …". */
  label: string;
  /** When it was disabled as gone, and why; null when it is not. */
  gone: { at: number; reason: string } | null;
  /** When it was paused by hand; null when it is not. */
  pausedAt: number | null;
  /** Until when the lane waits on the service's Retry-After; null when it does not. */
  retryAfterUntil: number | null;
  queue: QueueStats;
  activity: DestinationActivity;
}

/** Every configured destination's state, in config order. */
export async function destinationRows(
  options: ConsoleOptions,
  now: number,
): Promise<DestinationRow[]> {
  const { store } = options;
  const runtime = options.runtime();
  const [disabled, paused, queues, activity] = await Promise.all([
    store.disabledDestinations(),
    store.pausedDestinations(),
    store.queueStats(),
    store.destinationActivity(now),
  ]);
  const gone = new Map(disabled.map((d) => [d.name, d]));
  const pausedAt = new Map(paused.map((p) => [p.name, p.at]));
  const queueOf = new Map(queues.map((q) => [q.destination, q]));
  const activityOf = new Map(activity.map((a) => [a.destination, a]));
  const lanes = options.destinationStates();
  const rows: DestinationRow[] = [];
  for (const [name, runtimeEntry] of runtime.destinations) {
    const queue = queueOf.get(name) ?? { destination: name, depth: 0, oldestAt: null };
    const lane = lanes.get(name);
    const waiting = lane?.state === "waiting" && lane.until !== null && lane.until > now
      ? lane.until
      : null;
    // The worker knows whether its last attempt failed; the store, whether any delivery waits
    // for a retry (also when another relay or no worker runs).
    const retrying = lane?.state === "retrying" || (queue.depth > 0 &&
      (await store.searchDeliveries({ destination: name, status: "failed", limit: 1 })).length > 0);
    const goneEntry = gone.get(name);
    const row = {
      name,
      type: runtimeEntry.destination.type,
      configured: runtimeEntry.enabled,
      gone: goneEntry ? { at: goneEntry.at, reason: goneEntry.reason } : null,
      pausedAt: pausedAt.get(name) ?? null,
      retryAfterUntil: waiting,
      queue,
      activity: activityOf.get(name) ?? emptyActivity(name),
    };
    const [state, label] = !row.configured
      ? ["off", "off in the config"] as const
      : row.gone
      ? ["gone", "disabled because its service says it is gone"] as const
      : row.pausedAt !== null
      ? ["paused", "paused by hand"] as const
      : waiting !== null
      ? ["waiting", `waiting on the service's Retry-After until ${iso(waiting)}`] as const
      : retrying
      ? ["retrying", "retrying"] as const
      : queue.depth > 0 || (lane?.inFlight ?? 0) > 0
      ? ["delivering", "delivering"] as const
      : ["idle", "delivering (nothing waiting)"] as const;
    rows.push({ ...row, state, label });
  }
  return rows;
}

/** The badge class of a state. */
export function stateKind(state: StateKind): "ok" | "warn" | "bad" | "info" {
  switch (state) {
    case "delivering":
    case "idle":
      return "ok";
    case "retrying":
    case "waiting":
    case "paused":
      return "warn";
    case "gone":
      return "bad";
    case "off":
      return "info";
  }
}

function emptyActivity(destination: string): DestinationActivity {
  return {
    destination,
    deliveredHour: 0,
    deliveredDay: 0,
    failedHour: 0,
    failedDay: 0,
    lastSuccessAt: null,
    lastError: null,
  };
}

function iso(at: number): string {
  return new Date(at).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, " UTC");
}
