// Every source type the relay knows, in one list. Each module describes its own type (schema,
// secrets, verification): config.ts builds the `sources` schema union from this list and the
// relay creates each configured source through it. Adding a source type is one module, one line
// here, and one test file that runs the source contract (tests/source_contract.ts).

import type { Source, SourceType } from "./source.ts";
import { hmacType } from "./source_hmac.ts";
import { shopifyType } from "./source_shopify.ts";
import { standardWebhooksType } from "./source_standard_webhooks.ts";

/** The source types, in the order config.schema.json lists them. */
export const SOURCE_TYPES = [shopifyType, standardWebhooksType, hmacType] as const;

/** The schemas of {@linkcode SOURCE_TYPES}, as a tuple for zod's discriminated union. */
export type SourceSchemas = SchemasOf<typeof SOURCE_TYPES>;

type SchemasOf<T extends readonly unknown[]> = {
  -readonly [K in keyof T]: T[K] extends { schema: infer S } ? S : never;
};

/** The schemas in order, for the config's discriminated union. */
export const SOURCE_SCHEMAS = SOURCE_TYPES.map((type) => type.schema) as unknown as SourceSchemas;

const BY_NAME: ReadonlyMap<string, SourceType> = new Map(
  SOURCE_TYPES.map((type) => [type.type, type as unknown as SourceType]),
);

/**
 * Creates every configured source, by name: each imports its keys once. Rejects with TypeError
 * for a type the schema would not have admitted.
 */
export async function createSources(
  entries: Readonly<Record<string, { type: string; enabled?: boolean | undefined }>>,
  options: { now?: () => number } = {},
): Promise<Map<string, Source>> {
  const now = options.now ?? Date.now;
  const sources = new Map<string, Source>();
  for (const [name, entry] of Object.entries(entries)) {
    // A disabled source is not received: its path answers 404 like an unknown one.
    if (entry.enabled === false) continue;
    const type = BY_NAME.get(entry.type);
    if (type === undefined) throw new TypeError(`unknown source type "${entry.type}"`);
    sources.set(name, await type.create(entry as never, { now }));
  }
  return sources;
}
