// Every destination type the relay knows, in one list. Each module describes its own type
// (schema, secrets, pace, creation): config.ts builds the schema union and compile.ts creates
// destinations from this list. Adding a destination is one module, one line here, and one test
// file that runs the destination contract (tests/destination_contract.ts).

import type { DestinationType } from "./destination.ts";
import { airtableType } from "./destination_airtable.ts";
import { consoleType } from "./destination_console.ts";
import { discordType } from "./destination_discord.ts";
import { emailType } from "./destination_email.ts";
import { googleChatType } from "./destination_google_chat.ts";
import { googleSheetsType } from "./destination_google_sheets.ts";
import { httpType } from "./destination_http.ts";
import { klaviyoType } from "./destination_klaviyo.ts";
import { hubspotType } from "./destination_hubspot.ts";
import { influencerHeroType } from "./destination_influencer_hero.ts";
import { mattermostType } from "./destination_mattermost.ts";
import { ntfyType } from "./destination_ntfy.ts";
import { slackType } from "./destination_slack.ts";
import { teamsType } from "./destination_teams.ts";
import { telegramType } from "./destination_telegram.ts";

/** The destination types, in the order config.schema.json lists them. */
export const DESTINATION_TYPES = [
  consoleType,
  slackType,
  httpType,
  discordType,
  teamsType,
  telegramType,
  googleChatType,
  mattermostType,
  ntfyType,
  emailType,
  airtableType,
  klaviyoType,
  hubspotType,
  googleSheetsType,
  influencerHeroType,
] as const;

/** The schemas of {@linkcode DESTINATION_TYPES}, as a tuple for zod's discriminated union. */
export type DestinationSchemas = SchemasOf<typeof DESTINATION_TYPES>;

type SchemasOf<T extends readonly unknown[]> = {
  -readonly [K in keyof T]: T[K] extends { schema: infer S } ? S : never;
};

/** The schemas in order, for the config's discriminated union. */
export const DESTINATION_SCHEMAS = DESTINATION_TYPES.map((type) =>
  type.schema
) as unknown as DestinationSchemas;

const BY_NAME: ReadonlyMap<string, DestinationType> = new Map(
  DESTINATION_TYPES.map((type) => [type.type, type as DestinationType]),
);

/** The destination type named `type`; the schema admits no other. */
export function destinationTypeOf(type: string): DestinationType {
  const found = BY_NAME.get(type);
  if (found === undefined) throw new TypeError(`unknown destination type "${type}"`);
  return found;
}
