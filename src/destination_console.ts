// Prints each rendered message: the destination of the embedded defaults, and handy for trials.

import { z } from "zod";
import { deliveryOptions } from "./schema_kit.ts";
import type { DeliveryRequest, Destination, Rendered } from "./destination.ts";
import { destinationType } from "./destination.ts";
import { plainText } from "./message.ts";
import type { Outcome } from "./retry.ts";

/** Prints messages with `write` (standard error in the relay, beside the JSON logs). */
export class ConsoleDestination implements Destination {
  readonly type = "console";
  readonly name: string;
  #write: (text: string) => void;

  constructor(name: string, write: (text: string) => void) {
    this.name = name;
    this.#write = write;
  }

  render(request: DeliveryRequest): Rendered {
    const header = `── ${request.eventType} ${request.eventId} → ${this.name} ──`;
    return {
      method: "PRINT",
      url: "stderr",
      headers: {},
      body: `${header}\n${plainText(request.message)}\n`,
    };
  }

  send(request: DeliveryRequest): Promise<Outcome> {
    try {
      this.#write(this.render(request).body);
      return Promise.resolve({ kind: "delivered", httpStatus: null });
    } catch (error) {
      return Promise.resolve({ kind: "retry", httpStatus: null, error: (error as Error).name });
    }
  }
}

/** The `console` destination type. */
export const consoleType = destinationType({
  type: "console",
  schema: z.strictObject({
    type: z.literal("console"),
    ...deliveryOptions,
  }).describe("Prints each rendered message on standard output"),
  pace: null,
  // Printing has no service to probe for its capacity.
  adaptive: false,
  rendersMessages: () => true,
  create: (name, _entry, kit) => new ConsoleDestination(name, kit.write),
});
