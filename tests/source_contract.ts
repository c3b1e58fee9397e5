// The contract every source type passes, run by each tests/source_<type>_test.ts against a real
// relay over real HTTP: a request signed as the sender signs it is stored (200) and delivered to
// a route naming `<source>.<topic>` and to one taking `<source>.*`; a wrong, missing or malformed
// signature is refused 401 with its reason, and so is a stale timestamp where the scheme signs
// one; the second secret of a rotation is accepted, and so are new secrets after a reload; a
// replayed request is a duplicate with no second delivery; bad JSON after a valid signature is
// 400 with nothing stored; an unknown source is 404, a GET 405, a body too large 413; no secret
// is ever logged.

import assert from "node:assert/strict";
import { compileMessage } from "../src/message.ts";
import { templateScope } from "../src/route.ts";
import { FakeServer, SECRET, testConfig, testRelay } from "./helpers.ts";

/** What the contract needs to know of one source type. */
export interface SourceSpec {
  /** The config's `type`. */
  type: string;
  /** The source's name in the config (its URL is /sources/<name>). */
  name: string;
  /** The source's entry under `sources`, with these secrets. */
  entry(secrets: readonly string[]): Record<string, unknown>;
  /** Two secrets as the sender shows them: the current one and the one rotated to. */
  secrets: readonly [string, string];
  /** A topic as the sender names it, and the event type the relay makes of it. */
  topic: string;
  eventType: string;
  /** A JSON body the sender sends for `topic`; `n` makes it unique. */
  body(topic: string, n: number): string;
  /**
   * The headers the sender sends with `body`: signed with `secret` (independently of the relay's
   * code), naming `topic`, with the delivery `id` and the send time `at` (ms) where it has them.
   */
  sign(
    body: string,
    options: { secret: string; topic: string; id: string; at: number },
  ): Record<string, string> | Promise<Record<string, string>>;
  /** The header that carries the signature. */
  signatureHeader: string;
  /** A value of that header that is malformed, not merely wrong. */
  malformed: string;
  /** Whether the scheme signs a timestamp (then a stale one is refused). */
  signsTimestamp: boolean;
}

/** Runs the source contract for `spec`. */
export function sourceContract(spec: SourceSpec): void {
  const url = (base: string) => `${base}/sources/${spec.name}`;

  Deno.test(`${spec.type}: signed requests are stored, routed, refused or deduplicated as they should`, async (t) => {
    const dir = await Deno.makeTempDir();
    const exact = new FakeServer();
    const every = new FakeServer();
    const config = testConfig(dir, {
      influencer_hero: { signing_secrets: [SECRET], max_body_bytes: 4096 },
      sources: { [spec.name]: spec.entry([spec.secrets[0]]) },
      destinations: {
        exact: { type: "http", url: exact.url },
        every: { type: "http", url: every.url },
      },
      routes: [
        { name: "exact", events: [spec.eventType], to: ["exact"] },
        { name: "every", events: [`${spec.name}.*`], to: ["every"] },
      ],
    });
    const { relay, logs } = await testRelay(config);
    let n = 0;
    const send = async (
      options: {
        secret?: string;
        at?: number;
        id?: string;
        body?: string;
        headers?: (headers: Record<string, string>) => Record<string, string>;
      } = {},
    ) => {
      const body = options.body ?? spec.body(spec.topic, ++n);
      let headers = await spec.sign(body, {
        secret: options.secret ?? spec.secrets[0],
        topic: spec.topic,
        id: options.id ?? `delivery-${crypto.randomUUID()}`,
        at: options.at ?? Date.now(),
      });
      if (options.headers) headers = options.headers(headers);
      const response = await fetch(url(relay.url), {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body,
      });
      return { status: response.status, json: await response.json(), body, headers };
    };
    const stored = async () => (await relay.store.searchEvents({ limit: 100 })).length;
    const failures = (reason: string) =>
      relay.metrics.value("hero_relay_source_verification_failures_total", {
        source: spec.name,
        reason,
      });
    try {
      await t.step(
        "a request signed as the sender signs it is stored and delivered to both routes",
        async () => {
          const sent = await send();
          assert.equal(sent.status, 200, JSON.stringify(sent.json));
          assert.equal(sent.json.ok, true);
          assert.equal(sent.json.type, spec.eventType);
          assert.equal(sent.json.duplicate, false);
          assert.match(String(sent.json.id), /^evt_/);
          const event = await relay.store.getEvent(String(sent.json.id));
          assert.equal(event?.type, spec.eventType);
          assert.equal(event?.body, sent.body);
          await exact.waitFor(1);
          await every.waitFor(1);
          for (const server of [exact, every]) {
            const delivered = JSON.parse(server.received[0]!.body);
            assert.equal(delivered.type, spec.eventType);
            assert.deepEqual(delivered.payload, JSON.parse(sent.body));
          }
          assert.equal(
            relay.metrics.value("hero_relay_events_accepted_total", { type: `${spec.name}.*` }),
            1,
          );
        },
      );

      await t.step("the same request again is a duplicate, with no second delivery", async () => {
        const first = await send({ id: "delivery-replayed" });
        assert.equal(first.status, 200);
        const again = await fetch(url(relay.url), {
          method: "POST",
          headers: { "content-type": "application/json", ...first.headers },
          body: first.body,
        });
        const json = await again.json();
        assert.equal(again.status, 200);
        assert.equal(json.duplicate, true);
        assert.equal(json.id, first.json.id);
        assert.equal(json.type, spec.eventType);
        const deliveries = await relay.store.listDeliveries({ eventId: String(first.json.id) });
        assert.equal(deliveries.length, 2, "one delivery per route, not one per request");
        assert.equal(await stored(), 2);
        await exact.waitFor(2);
        assert.equal(
          relay.metrics.value("hero_relay_events_duplicate_total", { type: `${spec.name}.*` }),
          1,
        );
      });

      await t.step("a body signed with another secret is refused 401 bad_signature", async () => {
        const sent = await send({ secret: spec.secrets[1] });
        assert.equal(sent.status, 401);
        assert.equal(sent.json.ok, false);
        assert.match(String(sent.json.error), /does not match/);
        assert.equal(failures("bad_signature"), 1);
      });

      await t.step("a body changed after signing is refused 401 bad_signature", async () => {
        const original = spec.body(spec.topic, ++n);
        const headers = await spec.sign(original, {
          secret: spec.secrets[0],
          topic: spec.topic,
          id: "delivery-tampered",
          at: Date.now(),
        });
        const response = await fetch(url(relay.url), {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: original.replace("}", ', "injected": true}'),
        });
        assert.equal(response.status, 401);
        await response.body?.cancel();
        assert.equal(failures("bad_signature"), 2);
      });

      await t.step("a missing signature header is refused 401 missing_signature", async () => {
        const sent = await send({
          headers: (h) =>
            Object.fromEntries(
              Object.entries(h).filter(([k]) =>
                k.toLowerCase() !== spec.signatureHeader.toLowerCase()
              ),
            ),
        });
        assert.equal(sent.status, 401);
        assert.match(String(sent.json.error), new RegExp(`Missing ${spec.signatureHeader}`, "i"));
        assert.equal(failures("missing_signature"), 1);
      });

      await t.step("a malformed signature is refused 401 malformed_signature", async () => {
        const sent = await send({
          headers: (h) => withHeader(h, spec.signatureHeader, spec.malformed),
        });
        assert.equal(sent.status, 401);
        assert.equal(failures("malformed_signature"), 1);
      });

      await t.step("the second secret of a rotation is accepted", async () => {
        await relay.reload(testConfig(dir, {
          influencer_hero: config.influencer_hero,
          sources: { [spec.name]: spec.entry(spec.secrets) },
          destinations: config.destinations,
          routes: config.routes,
        }));
        for (const secret of spec.secrets) {
          const sent = await send({ secret });
          assert.equal(sent.status, 200, JSON.stringify(sent.json));
          assert.equal(sent.json.duplicate, false);
        }
      });

      await t.step("after a reload to a new secret only the new one is accepted", async () => {
        await relay.reload(testConfig(dir, {
          influencer_hero: config.influencer_hero,
          sources: { [spec.name]: spec.entry([spec.secrets[1]]) },
          destinations: config.destinations,
          routes: config.routes,
        }));
        assert.equal((await send({ secret: spec.secrets[0] })).status, 401);
        assert.equal((await send({ secret: spec.secrets[1] })).status, 200);
      });

      if (spec.signsTimestamp) {
        await t.step("a request signed 10 minutes ago is refused 401 stale_timestamp", async () => {
          const before = await stored();
          const sent = await send({ secret: spec.secrets[1], at: Date.now() - 600_000 });
          assert.equal(sent.status, 401);
          assert.match(String(sent.json.error), /too old/);
          assert.equal(failures("stale_timestamp"), 1);
          const future = await send({ secret: spec.secrets[1], at: Date.now() + 600_000 });
          assert.equal(future.status, 401);
          assert.equal(failures("future_timestamp"), 1);
          assert.equal(await stored(), before);
        });
      }

      await t.step("bad JSON after a valid signature is 400, and nothing is stored", async () => {
        const before = await stored();
        for (const body of ['{"broken": ', "[1, 2]"]) {
          const sent = await send({ secret: spec.secrets[1], body });
          assert.equal(sent.status, 400);
          assert.equal(sent.json.ok, false);
        }
        assert.equal(await stored(), before);
      });

      await t.step(
        "an unknown source is 404, a GET 405, a non-JSON body 415, a large one 413",
        async () => {
          const unknown = await fetch(`${relay.url}/sources/nobody`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: "{}",
          });
          assert.equal(unknown.status, 404);
          assert.match((await unknown.json()).error, /Unknown source/);
          const get = await fetch(url(relay.url));
          assert.equal(get.status, 405);
          assert.equal(get.headers.get("allow"), "POST");
          await get.body?.cancel();
          const text = await fetch(url(relay.url), {
            method: "POST",
            headers: { "content-type": "text/plain" },
            body: "{}",
          });
          assert.equal(text.status, 415);
          await text.body?.cancel();
          const large = await send({
            secret: spec.secrets[1],
            body: JSON.stringify({ padding: "x".repeat(5000) }),
          });
          assert.equal(large.status, 413);
          assert.equal(
            relay.metrics.value("hero_relay_http_requests_total", {
              path: "/sources/other",
              status: "404",
            }),
            1,
            "an unknown source's path is one bounded label",
          );
        },
      );

      await t.step("the built-in message names the source and topic and shows no secret", () => {
        const payload = JSON.parse(spec.body(spec.topic, 1));
        const event = { id: "evt_1", type: spec.eventType, receivedAt: Date.now() };
        const message = compileMessage(spec.eventType)(templateScope(payload, event));
        assert.equal(message.title, spec.eventType.replace(".", ": "));
        const shown = JSON.stringify(message);
        for (const secret of spec.secrets) assert.ok(!shown.includes(secret), shown);
      });

      await t.step("no secret appears in the relay's logs", () => {
        const text = logs.lines.join("\n");
        assert.match(text, new RegExp(`"path":"/sources/${spec.name}"`));
        for (const secret of [...spec.secrets, SECRET]) {
          assert.ok(!text.includes(secret), `the logs show "${secret}"`);
        }
      });
    } finally {
      await relay.stop();
      await exact.close();
      await every.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** `headers` with `name` set to `value`, whatever the case it was written in. */
function withHeader(
  headers: Record<string, string>,
  name: string,
  value: string,
): Record<string, string> {
  const out = Object.fromEntries(
    Object.entries(headers).filter(([k]) => k.toLowerCase() !== name.toLowerCase()),
  );
  out[name] = value;
  return out;
}
