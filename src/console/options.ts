// What the operator console is given by the wiring: the store, the running config, what the
// worker knows, and callbacks that tell the worker about an operator's action.

import type { Runtime } from "../compile.ts";
import type { Payload } from "../events.ts";
import type { Logger } from "../log.ts";
import type { Redactor } from "../redact.ts";
import type { Outcome } from "../retry.ts";
import type { Store } from "../store.ts";
import type { DestinationState } from "../worker.ts";

/** How the last reload of the config went. */
export interface ReloadResult {
  /** When it was tried (ms). */
  at: number;
  ok: boolean;
  /** Each problem as "json.path: what was expected" (ConfigError's problems). */
  errors: readonly string[];
}

/** Sends one test message to a destination for real; resolves with how the service answered. */
export type SendTest = (
  destination: string,
  eventType: string,
  payload: Payload,
) => Promise<Outcome>;

/** Options of the operator console (`AdminOptions.console`). */
export interface ConsoleOptions {
  store: Store;
  /** The running config, compiled; called per request, so a reload shows at once. */
  runtime: () => Runtime;
  /** Takes the config's secrets out of everything shown (answers, errors, the config). */
  redactor: Redactor;
  log: Logger;
  /** Each destination's state as the worker sees it (`Dispatcher.destinationStates()`). */
  destinationStates: () => ReadonlyMap<string, DestinationState>;
  /** The last reload's result, or null when the config was not reloaded since the start. */
  lastReload: () => ReloadResult | null;
  /**
   * Sends "Send a test" from the preview. Left out, the console sends through the running
   * config's destination itself (see `testSender` in preview.ts).
   */
  sendTest?: SendTest;
  /** Deliveries were made due again: let the worker look now. */
  replayed: () => void;
  /** A destination was enabled in the store: let the worker re-read it now. */
  enabled: () => Promise<void>;
  /** A destination was paused or resumed in the store: let the worker re-read it now. */
  paused: () => Promise<void>;
  /** How long a session lasts from sign-in (ms); 12 hours when left out. */
  sessionLifetimeMs?: number;
  /** The clock (ms); injected in tests. */
  now?: () => number;
}
