// Commands that speak Influencer Hero's side: `send-test`, `register`, `sign`.

import { type Config } from "../config.ts";
import { EVENT_TYPES } from "../events.ts";
import { API_URL, registerWebhooks } from "../influencer_hero_api.ts";
import { SAMPLES } from "../samples.ts";
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from "../server.ts";
import { networkErrorMessage } from "../http_client.ts";
import { sign } from "../verify.ts";
import { type Command, CONFIG_OPTION, help, load, parse, print, UsageError } from "./shared.ts";

export const sendTestCommand: Command = {
  usage: `Usage: hero-relay send-test <event_type|all> [--config PATH] [--url URL] [--secret S]
                         [--payload FILE]

Sends correctly signed sample events, exactly as Influencer Hero would (signature and timestamp
headers; a fresh webhook_timestamp where the type carries one), to a running relay, and prints
each answer. By default the relay and secret are the ones the config describes.

Options:
-c, --config PATH   Config file (default ./config.json)
    --url URL       Base URL of the relay (default from listen in the config)
    --secret S      Signing secret (default the config's first)
    --payload FILE  Send this JSON payload instead of the sample
-h, --help          Show this help
`,
  async run(args) {
    const { values, positionals } = parse(args, {
      ...CONFIG_OPTION,
      url: { type: "string" },
      secret: { type: "string" },
      payload: { type: "string" },
    }, true);
    if (values.help) return help(sendTestCommand.usage);
    if (positionals.length !== 1) throw new UsageError('Name one event type, or "all"');
    let config: Config | null = null;
    if (values.url === undefined || values.secret === undefined) {
      config = load(values.config, { parts: ["listen", "influencer_hero"] });
    }
    const base = values.url ??
      `http://${
        ["0.0.0.0", "::", ""].includes(config!.listen.hostname)
          ? "127.0.0.1"
          : config!.listen.hostname
      }:${config!.listen.port}`;
    const secret = values.secret ?? config!.influencer_hero.signing_secrets[0]!;
    const types = positionals[0] === "all" ? EVENT_TYPES.map((t) => t.name) : [positionals[0]!];
    let failures = 0;
    for (const type of types) {
      const payload = values.payload === undefined
        ? structuredClone(SAMPLES[type])
        : JSON.parse(Deno.readTextFileSync(values.payload));
      if (payload === undefined) {
        throw new UsageError(`No sample for "${type}"; pass --payload FILE`);
      }
      const now = Math.floor(Date.now() / 1000);
      if ("webhook_timestamp" in payload) payload.webhook_timestamp = String(now);
      // A nonce keeps repeated test sends from being answered as duplicates.
      if (values.payload === undefined) payload.test_nonce = crypto.randomUUID();
      const body = new TextEncoder().encode(JSON.stringify(payload));
      const url = `${base.replace(/\/$/, "")}/hooks/${type}`;
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            [SIGNATURE_HEADER]: await sign(body, secret),
            [TIMESTAMP_HEADER]: String(now),
          },
          body,
        });
        const text = await response.text();
        if (!response.ok) failures++;
        print(`${type.padEnd(22)} ${response.status} ${text}\n`);
      } catch (error) {
        failures++;
        print(`${type.padEnd(22)} cannot reach ${url}: ${networkErrorMessage(error)}\n`);
      }
    }
    return failures ? 1 : 0;
  },
};

export const registerCommand: Command = {
  usage: `Usage: hero-relay register --public-url URL [--api-key KEY] [--events all|TYPE,...]
                        [--brand ID]... [--remove] [--api-url URL]

Registers the relay's per-event URLs (<public-url>/hooks/<event_type>) with Influencer Hero's
API, one webhook per event type, so nothing has to be entered by hand. Already registered URLs
are left as they are. With --remove, the registrations are deleted.

Options:
    --public-url URL  The relay's public base URL (Influencer Hero refuses local addresses)
    --api-key KEY     Influencer Hero API key (default: $INFLUENCER_HERO_API_KEY)
    --events LIST     "all" (default) or a comma-separated list of event types
    --brand ID        Only for this brand (repeatable)
    --remove          Delete the registrations instead
    --api-url URL     API base URL (default ${API_URL})
-h, --help            Show this help
`,
  async run(args) {
    const { values } = parse(args, {
      "public-url": { type: "string" },
      "api-key": { type: "string" },
      events: { type: "string", default: "all" },
      brand: { type: "string", multiple: true },
      remove: { type: "boolean" },
      "api-url": { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return help(registerCommand.usage);
    const publicUrl = values["public-url"];
    if (publicUrl === undefined) throw new UsageError("--public-url is required");
    checkPublicUrl(publicUrl);
    const apiKey = values["api-key"] ?? Deno.env.get("INFLUENCER_HERO_API_KEY");
    if (!apiKey) throw new UsageError("Give --api-key or set INFLUENCER_HERO_API_KEY");
    const eventTypes = values.events === "all"
      ? EVENT_TYPES.map((t) => t.name)
      : values.events.split(",").map((t) => t.trim()).filter((t) => t !== "");
    for (const type of eventTypes) {
      if (!/^[a-z0-9_]{1,64}$/.test(type)) throw new UsageError(`"${type}" is not an event type`);
    }
    const results = await registerWebhooks({
      apiKey,
      publicUrl,
      eventTypes,
      ...(values.remove ? { remove: true } : {}),
      ...(values.brand ? { brandIds: values.brand } : {}),
      ...(values["api-url"] ? { apiUrl: values["api-url"] } : {}),
    });
    for (const r of results) {
      print(
        `${r.eventType.padEnd(22)} ${r.outcome}${r.detail ? `: ${r.detail}` : ""}  ${r.url}\n`,
      );
    }
    return results.some((r) => r.outcome === "failed") ? 1 : 0;
  },
};

export const signCommand: Command = {
  usage: `Usage: hero-relay sign [--config PATH] [--secret S] [--timestamp T] < body.json

Prints the headers Influencer Hero would send with the body read from standard input, ready
for curl (-H). The secret defaults to the config's first signing secret.

Options:
-c, --config PATH  Config file (default ./config.json)
    --secret S     Signing secret
    --timestamp T  Unix seconds (default now)
-h, --help         Show this help
`,
  async run(args) {
    const { values } = parse(args, {
      ...CONFIG_OPTION,
      secret: { type: "string" },
      timestamp: { type: "string" },
    });
    if (values.help) return help(signCommand.usage);
    const secret = values.secret ??
      load(values.config, { parts: ["influencer_hero"] }).influencer_hero
        .signing_secrets[0]!;
    const timestamp = values.timestamp ?? String(Math.floor(Date.now() / 1000));
    if (!/^[0-9]{1,12}$/.test(timestamp)) throw new UsageError("--timestamp takes Unix seconds");
    const body = new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
    print(
      `Content-Type: application/json\nX-InfluencerHero-Signature: ${await sign(
        body,
        secret,
      )}\n` +
        `X-InfluencerHero-Timestamp: ${timestamp}\n`,
    );
    return 0;
  },
};

/** Influencer Hero only calls public URLs: refuse local and private ones early. */
function checkPublicUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(
      `--public-url takes a URL such as https://relay.example.com, not "${value}"`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UsageError("--public-url must be an https:// URL");
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const local = host === "localhost" || host.endsWith(".localhost") || host === "::1" ||
    /^(127|10|0)\./.test(host) || /^192\.168\./.test(host) || /^169\.254\./.test(host) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(host) || /^f[cd][0-9a-f]{2}:/i.test(host);
  if (local) {
    throw new UsageError(
      "Influencer Hero only calls public URLs: put the relay behind a reverse proxy or tunnel " +
        "and give that public URL",
    );
  }
}
