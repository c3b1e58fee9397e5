// The contract every destination type keeps, run by each destination's own test file, as the
// store contract is run by each store's. Each destination is built from config the way the relay
// builds it, and checked: its config's secrets are all marked as secrets; every default message
// renders every sample event; hostile payload text renders safely within the service's limits;
// previews never show a secret; the service's answers (2xx, gone, 429 with its wait, 5xx, a
// refusal) are classified by the service's rules; a silent server times out and a refused
// connection is retried, never thrown; and one event goes through a real relay, retried once,
// with no secret in the relay's logs.

import assert from "node:assert/strict";
import { compileConfig } from "../src/compile.ts";
import { configSecrets, parseConfig } from "../src/config.ts";
import type { Destination, Rendered } from "../src/destination.ts";
import { DESTINATION_TYPES } from "../src/destinations.ts";
import type { Outcome } from "../src/retry.ts";
import { SAMPLES } from "../src/samples.ts";
import { deliveryOf, deliveryWith, hostileMessage, sendContext } from "./destination_kit.ts";
import {
  type Answer,
  eventually,
  FakeServer,
  freshSample,
  post,
  SECRET,
  testConfig,
  testRelay,
} from "./helpers.ts";

/** How a destination's service answers each case, as the real service does. */
export interface ServiceAnswers {
  /** Accepted. */
  ok: Answer;
  /** The webhook, token or chat no longer exists: the destination is disabled. */
  gone: Answer;
  /** Slowed down; `waitMs` is the wait the answer states (null when it states none). */
  rateLimited: { answer: Answer; waitMs: number | null };
  /** The service's own trouble: retried. */
  serverError: Answer;
  /** This message is refused for good (a bad payload): failed, not retried. */
  rejected: Answer;
}

/** What the contract needs to know of one destination type. */
export interface ContractSpec {
  /** The config's `type`. */
  type: string;
  /** Names this variant when a type has more than one transport (e-mail over SMTP or an API). */
  variant?: string;
  /** The destination's config, its service reached at `base` (http://127.0.0.1:port). */
  config(base: string): Record<string, unknown>;
  /** Secret values in the config; none may show in a preview or a log. */
  secrets: string[];
  /** Whether the request body is JSON. */
  json: boolean;
  /** The most bytes the service takes in a body, checked on the hostile message. */
  maxBodyBytes?: number;
  /** The service's own rules on the hostile message's rendering: escaping, limits, no pings. */
  hostile?(rendered: Rendered): void;
  /** The service's answers; absent when it is not reached over HTTP (console, SMTP). */
  service?: ServiceAnswers;
  /** Whether the destination prints instead of sending (console): no network cases. */
  prints?: boolean;
  /** Requests one accepted delivery makes (default 1; HubSpot's contact and its note: 2). */
  requestsPerDelivery?: number;
}

/** A JSON answer. */
export function jsonAnswer(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Answer {
  return {
    status,
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  };
}

/** A plain-text answer. */
export function textAnswer(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Answer {
  return { status, body, headers: { "content-type": "text/plain", ...headers } };
}

const RETRY_AFTER_SLACK_MS = 1_100;
const NO_ENV = { env: () => undefined };

/** Registers the contract's tests for one destination type. */
export function destinationContract(spec: ContractSpec): void {
  const name = `${spec.type}${spec.variant ? ` (${spec.variant})` : ""} contract`;
  const build = (base = "https://services.example"): Destination => {
    const runtime = compileConfig(
      parseConfig(configText(spec, base), "test config", NO_ENV),
      "test",
      {
        write: () => {},
      },
    );
    return runtime.destinations.get("d")!.destination;
  };

  Deno.test(`${name}: the type is listed, and every secret of its config is marked as one`, () => {
    assert.ok(DESTINATION_TYPES.some((t) => t.type === spec.type), `${spec.type} is listed`);
    const config = parseConfig(configText(spec, "https://services.example"), "test config", NO_ENV);
    const marked = configSecrets(config).map((s) => s.value);
    for (const secret of spec.secrets) {
      assert.ok(marked.some((value) => value.includes(secret)), `"${secret}" is not marked`);
    }
  });

  Deno.test(`${name}: every default message renders every sample event`, () => {
    const destination = build();
    assert.equal(destination.type, spec.type);
    for (const type of [...Object.keys(SAMPLES), "some_future_event"]) {
      const delivery = deliveryOf(type, type in SAMPLES ? {} : { payload: { deal_id: "d1" } });
      assertRendered(spec, destination.render(delivery), type);
    }
  });

  Deno.test(`${name}: hostile payload text renders safely within the service's limits`, () => {
    const rendered = build().render(deliveryWith(hostileMessage()));
    assertRendered(spec, rendered, "hostile message");
    if (spec.maxBodyBytes !== undefined) {
      const bytes = new TextEncoder().encode(rendered.body).length;
      assert.ok(bytes <= spec.maxBodyBytes, `${bytes} bytes, over ${spec.maxBodyBytes}`);
    }
    spec.hostile?.(rendered);
  });

  if (spec.prints) return;

  if (spec.service !== undefined) {
    const answers = spec.service;
    Deno.test(`${name}: the service's answers are classified by its rules`, async () => {
      let next: Answer = answers.ok;
      const service = new FakeServer(() => next);
      try {
        const destination = build(service.url);
        const send = async (answer: Answer): Promise<Outcome> => {
          next = answer;
          return await destination.send(deliveryOf("update_commission"), sendContext());
        };
        const ok = await send(answers.ok);
        assert.equal(ok.kind, "delivered", JSON.stringify(ok));
        assert.equal(ok.httpStatus, answers.ok.status);
        const gone = await send(answers.gone);
        assert.equal(gone.kind, "gone", JSON.stringify(gone));
        const limited = await send(answers.rateLimited.answer);
        assert.equal(limited.kind, "retry", JSON.stringify(limited));
        const waitMs = answers.rateLimited.waitMs;
        if (waitMs === null) {
          assert.equal(limited.retryAfterMs, undefined);
        } else {
          assert.ok(
            Math.abs((limited.retryAfterMs ?? -1e9) - waitMs) <= RETRY_AFTER_SLACK_MS,
            `waits ${limited.retryAfterMs} ms, expected about ${waitMs}`,
          );
        }
        const down = await send(answers.serverError);
        assert.equal(down.kind, "retry", JSON.stringify(down));
        assert.equal(down.httpStatus, answers.serverError.status);
        const rejected = await send(answers.rejected);
        assert.equal(rejected.kind, "failed", JSON.stringify(rejected));
        for (const outcome of [gone, limited, down, rejected]) {
          const text = outcome.error ?? "";
          for (const secret of spec.secrets) assert.ok(!text.includes(secret), text);
        }
        assert.equal(service.received.length, 4 + (spec.requestsPerDelivery ?? 1));
      } finally {
        await service.close();
      }
    });
  }

  Deno.test(`${name}: a refused connection is a retry, never a throw`, async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    const outcome = await build(`http://127.0.0.1:${port}`).send(
      deliveryOf("update_commission"),
      sendContext(),
    );
    assert.equal(outcome.kind, "retry", JSON.stringify(outcome));
    assert.equal(outcome.httpStatus, null);
  });

  Deno.test(`${name}: a server that never answers times out as a retry`, async () => {
    // Accepts the connection and says nothing, like a hung service.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of listener) held.push(conn);
    })();
    try {
      const context = { ...sendContext(), timeouts: { connectMs: 1_000, totalMs: 300 } };
      const outcome = await build(`http://127.0.0.1:${listener.addr.port}`).send(
        deliveryOf("update_commission"),
        context,
      );
      assert.equal(outcome.kind, "retry", JSON.stringify(outcome));
      assert.equal(outcome.httpStatus, null);
      assert.match(outcome.error ?? "", /tim(ed|e) ?out/i);
    } finally {
      listener.close();
      await accepting.catch(() => {});
      for (const conn of held) {
        try {
          conn.close();
        } catch {
          // Already closed by the client's abort.
        }
      }
    }
  });

  if (spec.service === undefined) return;
  const answers = spec.service;
  Deno.test(`${name}: an event goes through a real relay, retried once, no secret logged`, async () => {
    const service = new FakeServer((_request, index) =>
      index === 0 ? answers.serverError : answers.ok
    );
    const dir = await Deno.makeTempDir();
    const { relay, logs } = await testRelay(testConfig(dir, {
      destinations: {
        d: { ...spec.config(service.url), retry: { schedule: ["0s", "10ms"], jitter: 0 } },
      },
      routes: [{ name: "all", events: "*", to: ["d"] }],
    }));
    try {
      const accepted = await post(relay.url, "/hooks", freshSample("new_payout_request"));
      assert.equal(accepted.status, 200);
      await service.waitFor(2);
      await eventually(() => logs.find("delivered").length === 1, 10_000, "the delivery");
      const failed = logs.find("attempt failed");
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!["status"], answers.serverError.status);
      const text = logs.lines.join("\n");
      for (const secret of [...spec.secrets, SECRET]) {
        assert.ok(!text.includes(secret), `the logs show "${secret}"`);
      }
    } finally {
      await relay.stop();
      await service.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

function configText(spec: ContractSpec, base: string): string {
  return JSON.stringify({
    influencer_hero: { signing_secrets: [SECRET] },
    destinations: { d: spec.config(base) },
    routes: [{ name: "all", events: "*", to: ["d"] }],
  });
}

function assertRendered(spec: ContractSpec, rendered: Rendered, what: string): void {
  assert.notEqual(rendered.method, "ERROR", `${what}: ${rendered.body}`);
  assert.ok(rendered.body.length > 0, `${what}: empty body`);
  if (spec.json) assert.doesNotThrow(() => JSON.parse(rendered.body), what);
  const shown = JSON.stringify(rendered);
  for (const secret of spec.secrets) {
    assert.ok(!shown.includes(secret), `${what}: the preview shows "${secret}"`);
  }
}
