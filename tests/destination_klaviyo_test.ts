// Klaviyo: a fake Klaviyo API on 127.0.0.1 that takes Create Event requests the way Klaviyo
// does (a private key with the events:write scope, a revision header, JSON:API content type, a
// profile identified by e-mail, phone number or external id, `unique_id` counting an event once)
// and answers 202 or Klaviyo's JSON:API errors; the classification of each answer; config
// problems at their JSON paths.

import assert from "node:assert/strict";
import type { DestinationRuntime } from "../src/compile.ts";
import { classifyKlaviyo, KLAVIYO_REVISION } from "../src/destination_klaviyo.ts";
import { destinationContract } from "./destination_contract.ts";
import {
  compiledDestination,
  deliveryOf,
  destinationConfigError,
  type Json,
  sendContext,
} from "./destination_kit.ts";
import { type Answer, FakeServer, type Received } from "./helpers.ts";

const KEY = "pk_k1av1y0S3cr3tPrivateKey0123456789";
const KEY_WITHOUT_SCOPE = "pk_readOnlyKeyWithoutEventsWrite00";
const JSON_API = "application/vnd.api+json";

function klaviyoError(
  status: number,
  code: string,
  title: string,
  detail: string,
  pointer?: string,
  headers: Record<string, string> = {},
): Answer {
  const error: Record<string, unknown> = {
    id: "3b7f2e0c-5a4d-4c1b-9e8f-0a1b2c3d4e5f",
    status,
    code,
    title,
    detail,
  };
  if (pointer !== undefined) error["source"] = { pointer };
  return {
    status,
    body: JSON.stringify({ errors: [error] }),
    headers: { "content-type": JSON_API, ...headers },
  };
}

const invalid = (detail: string, pointer: string) =>
  klaviyoError(400, "invalid", "Invalid input.", detail, pointer);

/** A Klaviyo account; `recorded` holds the events it recorded (one per unique_id). */
function fakeKlaviyo(mode: () => "ok" | "throttled" = () => "ok") {
  const recorded: Json[] = [];
  const server = new FakeServer((request: Received) => {
    if (request.method !== "POST" || request.path !== "/api/events") {
      return klaviyoError(404, "not_found", "Not found.", "The requested resource was not found.");
    }
    const auth = request.headers.get("authorization");
    if (auth !== `Klaviyo-API-Key ${KEY}` && auth !== `Klaviyo-API-Key ${KEY_WITHOUT_SCOPE}`) {
      return klaviyoError(
        401,
        "not_authenticated",
        "Authentication credentials were not provided.",
        "Missing or invalid private key.",
        "/data/",
      );
    }
    if (auth === `Klaviyo-API-Key ${KEY_WITHOUT_SCOPE}`) {
      return klaviyoError(
        403,
        "permission_denied",
        "You do not have permission to perform this action.",
        "You do not have permission to perform this action.",
      );
    }
    if (mode() === "throttled") {
      return klaviyoError(
        429,
        "throttled",
        "Request was throttled.",
        "Request was throttled. Expected available in 7 seconds.",
        undefined,
        { "retry-after": "7" },
      );
    }
    const revision = request.headers.get("revision");
    if (revision === null || !/^\d{4}-\d{2}-\d{2}(\.\w+)?$/.test(revision)) {
      return invalid("A valid revision header is required.", "/headers/revision");
    }
    if (request.headers.get("content-type") !== JSON_API) {
      return klaviyoError(
        415,
        "unsupported_media_type",
        "Unsupported media type.",
        `Unsupported media type "${request.headers.get("content-type")}" in request.`,
      );
    }
    let body: Json;
    try {
      body = JSON.parse(request.body);
    } catch {
      return klaviyoError(400, "parse_error", "Parse error.", "Malformed JSON.", "/data");
    }
    const attributes = body?.data?.attributes;
    if (body?.data?.type !== "event" || typeof attributes !== "object" || attributes === null) {
      return invalid("An object with a type of event is required.", "/data");
    }
    const name = attributes.metric?.data?.attributes?.name;
    if (typeof name !== "string" || name === "" || name.length >= 128) {
      return invalid(
        "A metric name of under 128 characters is required.",
        "/data/attributes/metric/data/attributes/name",
      );
    }
    const profile = attributes.profile?.data?.attributes ?? {};
    if (!profile.email && !profile.phone_number && !profile.external_id && !profile.anonymous_id) {
      return invalid(
        "One of `email`, `phone_number`, `external_id`, `anonymous_id` is required to identify a profile.",
        "/data/attributes/profile/data/attributes",
      );
    }
    if (profile.email !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(profile.email)) {
      return invalid("Invalid email address", "/data/attributes/profile/data/attributes/email");
    }
    if (profile.phone_number !== undefined && !/^\+[1-9]\d{6,14}$/.test(profile.phone_number)) {
      return invalid(
        "Invalid phone number format (Example of a valid format: +12345678901)",
        "/data/attributes/profile/data/attributes/phone_number",
      );
    }
    const time = Date.parse(attributes.time ?? "");
    if (attributes.time !== undefined && !(time >= Date.UTC(2000, 0, 1))) {
      return invalid("Time must be after the year 2000.", "/data/attributes/time");
    }
    if (attributes.value !== undefined && typeof attributes.value !== "number") {
      return invalid("A number is required.", "/data/attributes/value");
    }
    // A unique_id repeated for the same profile and metric is recorded once.
    const duplicate = attributes.unique_id !== undefined &&
      recorded.some((event) =>
        event.unique_id === attributes.unique_id && event.metric === name &&
        event.email === profile.email
      );
    if (!duplicate) {
      recorded.push({ ...attributes, metric: name, email: profile.email, revision });
    }
    return { status: 202, body: "", headers: {} };
  });
  return { server, recorded };
}

function configOf(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: "klaviyo",
    api_key: KEY,
    metric: "Commission changed",
    email: "{{ deal_info.deal_name }}@creators.example",
    properties: {
      "Deal": "{{ deal_id }}",
      "Influencer": "{{ deal_info.full_name }}",
      "New commission": "{{ commission_information.new_commission_perc }}",
      "Comment": "{{ max_bid_information.max_bid_comment }}",
    },
    value: "{{ commission_information.new_commission_perc }}",
    api_url: url,
    ...extra,
  };
}

/** The destination "k" compiled from config as the relay compiles it. */
function runtimeOf(entry: Record<string, unknown>): DestinationRuntime {
  return compiledDestination("k", entry);
}

function problemsOf(entry: Record<string, unknown>): string {
  return destinationConfigError("k", entry)?.message ?? "";
}

Deno.test("an update_commission event becomes a Klaviyo event on the influencer's profile", async () => {
  const { server, recorded } = fakeKlaviyo();
  try {
    const destination = runtimeOf(configOf(server.url)).destination;
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 202 });
    const received = server.received[0]!;
    assert.equal(received.headers.get("authorization"), `Klaviyo-API-Key ${KEY}`);
    assert.equal(received.headers.get("revision"), KLAVIYO_REVISION);
    assert.equal(received.headers.get("content-type"), JSON_API);
    assert.equal(received.headers.get("accept"), JSON_API);
    assert.deepEqual(JSON.parse(received.body), {
      data: {
        type: "event",
        attributes: {
          // The comment, empty for this event, is left out.
          properties: { "Deal": "xyz789", "Influencer": "Dwayne Johnson", "New commission": "15" },
          time: "2026-01-15T12:00:00.000Z",
          unique_id: "evt_TEST",
          metric: { data: { type: "metric", attributes: { name: "Commission changed" } } },
          profile: { data: { type: "profile", attributes: { email: "therock@creators.example" } } },
          value: 15,
        },
      },
    });
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0].email, "therock@creators.example");
  } finally {
    await server.close();
  }
});

Deno.test("by default the metric names the event type and the properties are the payload", async () => {
  const { server, recorded } = fakeKlaviyo();
  try {
    const destination = runtimeOf({
      type: "klaviyo",
      api_key: KEY,
      email: "{{ send_product_info.customer.email }}",
      phone_number: "+1{{ send_product_info.phone | remove: '-' }}",
      external_id: "{{ deal_id }}",
      api_url: server.url,
    }).destination;
    const delivery = deliveryOf("product_sent");
    const outcome = await destination.send(delivery, sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 202 });
    assert.equal(recorded[0].metric, "Influencer Hero product_sent");
    assert.deepEqual(recorded[0].properties, delivery.payload);
    assert.equal(recorded[0].value, undefined);
    const body = JSON.parse(server.received[0]!.body);
    assert.deepEqual(body.data.attributes.profile.data.attributes, {
      email: "dwayne@example.com",
      phone_number: "+15555555555",
      external_id: "DEAL-12345",
    });
  } finally {
    await server.close();
  }
});

Deno.test("a retried delivery carries the same unique_id, so Klaviyo counts the event once", async () => {
  const { server, recorded } = fakeKlaviyo();
  try {
    const destination = runtimeOf(configOf(server.url)).destination;
    const first = await destination.send(deliveryOf("update_commission"), sendContext());
    const again = await destination.send(
      deliveryOf("update_commission", { attempt: 2 }),
      sendContext(),
    );
    assert.equal(first.kind, "delivered");
    assert.equal(again.kind, "delivered");
    assert.equal(server.received.length, 2);
    assert.equal(recorded.length, 1);
  } finally {
    await server.close();
  }
});

Deno.test("an e-mail that renders empty fails the delivery for good, and nothing is sent", async () => {
  const { server } = fakeKlaviyo();
  try {
    const runtime = runtimeOf(configOf(server.url, { email: "{{ email_information.recipient }}" }));
    const outcome = await runtime.destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(outcome.kind, "failed");
    assert.equal(outcome.httpStatus, null);
    assert.match(outcome.kind === "failed" ? outcome.error : "", /email template rendered empty/);
    assert.equal(server.received.length, 0);
    const rendered = runtime.destination.render(deliveryOf("update_commission"));
    assert.equal(rendered.method, "ERROR");
    assert.match(rendered.body, /email template rendered empty/);
  } finally {
    await server.close();
  }
});

Deno.test("Klaviyo's 400 fails the delivery with its code, detail and pointer", async () => {
  const { server, recorded } = fakeKlaviyo();
  try {
    const badEmail = await runtimeOf(configOf(server.url, { email: "{{ deal_info.deal_name }}" }))
      .destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(badEmail, {
      kind: "failed",
      httpStatus: 400,
      error:
        "HTTP 400: invalid: Invalid email address (at /data/attributes/profile/data/attributes/email)",
    });
    const badPhone = await runtimeOf(
      configOf(server.url, { phone_number: "{{ deal_info.nr_followers }}" }),
    )
      .destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(badPhone.kind, "failed");
    assert.match(
      badPhone.kind === "failed" ? badPhone.error : "",
      /^HTTP 400: invalid: Invalid phone number format .*\(at \/data\/attributes\/profile\/data\/attributes\/phone_number\)$/,
    );
    assert.deepEqual(recorded, []);
  } finally {
    await server.close();
  }
});

Deno.test("a value that is not a number fails the delivery before anything is sent", async () => {
  const { server } = fakeKlaviyo();
  try {
    const outcome = await runtimeOf(configOf(server.url, { value: "{{ deal_info.platform }}" }))
      .destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(outcome, {
      kind: "failed",
      httpStatus: null,
      error: 'the value template rendered "instagram", not a number',
    });
    assert.equal(server.received.length, 0);
  } finally {
    await server.close();
  }
});

Deno.test("a refused key and a key without the events:write scope are gone", async () => {
  const { server, recorded } = fakeKlaviyo();
  try {
    const send = (key: string) =>
      runtimeOf(configOf(server.url, { api_key: key })).destination.send(
        deliveryOf("update_commission"),
        sendContext(),
      );
    const refused = await send("pk_revokedKey000000000000000000");
    assert.equal(refused.kind, "gone");
    assert.equal(refused.httpStatus, 401);
    assert.match(refused.kind === "gone" ? refused.error : "", /^HTTP 401: not_authenticated: /);
    assert.doesNotMatch(refused.kind === "gone" ? refused.error : "", /pk_revoked/);
    const noScope = await send(KEY_WITHOUT_SCOPE);
    assert.equal(noScope.kind, "gone");
    assert.equal(noScope.httpStatus, 403);
    assert.match(noScope.kind === "gone" ? noScope.error : "", /permission_denied/);
    assert.deepEqual(recorded, []);
  } finally {
    await server.close();
  }
});

Deno.test("a throttled request waits the Retry-After Klaviyo sends", async () => {
  let mode: "ok" | "throttled" = "throttled";
  const { server, recorded } = fakeKlaviyo(() => mode);
  try {
    const destination = runtimeOf(configOf(server.url)).destination;
    const throttled = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(throttled.kind, "retry");
    assert.equal(throttled.httpStatus, 429);
    assert.equal(throttled.kind === "retry" && throttled.retryAfterMs, 7_000);
    assert.match(
      throttled.kind === "retry" ? throttled.error : "",
      /throttled: Request was throttled/,
    );
    mode = "ok";
    assert.equal(
      (await destination.send(deliveryOf("update_commission"), sendContext())).kind,
      "delivered",
    );
    assert.equal(recorded.length, 1);
  } finally {
    await server.close();
  }
});

Deno.test("Klaviyo's 5xx answers are retried", () => {
  for (const status of [500, 502, 503, 504]) {
    const outcome = classifyKlaviyo({
      status,
      headers: new Headers({ "content-type": JSON_API }),
      body: JSON.stringify({
        errors: [{ status, code: "error", title: "A server error occurred." }],
      }),
    }, 0);
    assert.equal(outcome.kind, "retry", String(status));
    assert.match(outcome.kind === "retry" ? outcome.error : "", /A server error occurred/);
  }
});

Deno.test("a klaviyo template that does not compile is a config problem at its JSON path", () => {
  assert.match(
    problemsOf(configOf("https://a.klaviyo.com", { email: "{% if %}" })),
    /destinations\.k\.email: /,
  );
  assert.match(
    problemsOf(
      configOf("https://a.klaviyo.com", { properties: { "Deal": "{{ deal_id | nope }}" } }),
    ),
    /destinations\.k\.properties\.Deal: /,
  );
});

Deno.test("klaviyo config problems name their JSON path and never echo the key", () => {
  const problems = problemsOf({
    type: "klaviyo",
    api_key: "AbC123-public-site-id",
    email: " ",
    api_url: "a.klaviyo.com",
  });
  assert.match(
    problems,
    /destinations\.k\.api_key: expected a private API key starting with "pk_"/,
  );
  assert.match(problems, /destinations\.k\.email: expected a template of the e-mail address/);
  assert.match(problems, /destinations\.k\.api_url: expected an http:\/\/ or https:\/\/ URL/);
  assert.doesNotMatch(problems, /public-site-id/);
  assert.equal(problemsOf({ type: "klaviyo", enabled: "", api_key: "", email: "" }), "");
});

Deno.test("the preview masks the key and shows the pinned revision", () => {
  const rendered = runtimeOf(configOf("https://a.klaviyo.com")).destination.render(
    deliveryOf("update_commission"),
  );
  assert.equal(rendered.url, "https://a.klaviyo.com/api/events");
  assert.deepEqual(rendered.headers, {
    "content-type": JSON_API,
    "accept": JSON_API,
    "authorization": "***",
    "revision": KLAVIYO_REVISION,
  });
  assert.doesNotMatch(JSON.stringify(rendered), /k1av1y0S3cr3t/);
  assert.equal(JSON.parse(rendered.body).data.attributes.unique_id, "evt_TEST");
});

Deno.test("a klaviyo destination renders messages only when a template uses one", () => {
  assert.equal(runtimeOf(configOf("https://a.klaviyo.com")).rendersMessages, false);
  assert.equal(
    runtimeOf(configOf("https://a.klaviyo.com", { metric: "{{ message.title | truncate: 60 }}" }))
      .rendersMessages,
    true,
  );
});

destinationContract({
  type: "klaviyo",
  config: (base) => ({
    type: "klaviyo",
    api_key: KEY,
    email: "{{ deal_info.deal_name | default: deal_id }}@creators.example",
    properties: { "Title": "{{ message.title }}", "Text": "{{ message.text }}" },
    api_url: base,
  }),
  secrets: [KEY],
  json: true,
  // Klaviyo's ingestion limit: 5 MB in all.
  maxBodyBytes: 5_000_000,
  service: {
    ok: { status: 202, body: "", headers: {} },
    gone: klaviyoError(
      401,
      "not_authenticated",
      "Authentication credentials were not provided.",
      "Missing or invalid private key.",
      "/data/",
    ),
    rateLimited: {
      answer: klaviyoError(
        429,
        "throttled",
        "Request was throttled.",
        "Request was throttled. Expected available in 2 seconds.",
        undefined,
        { "retry-after": "2" },
      ),
      waitMs: 2_000,
    },
    serverError: klaviyoError(503, "error", "A server error occurred.", "Service unavailable."),
    rejected: klaviyoError(
      400,
      "invalid",
      "Invalid input.",
      "One of `email`, `phone_number`, `external_id`, `anonymous_id` is required to identify a profile.",
      "/data/attributes/profile/data/attributes",
    ),
  },
  hostile(rendered) {
    const attributes = JSON.parse(rendered.body).data.attributes;
    assert.ok(attributes.metric.data.attributes.name.length < 128);
    for (const value of Object.values(attributes.properties)) {
      assert.ok(new TextEncoder().encode(String(value)).length <= 100_000);
    }
  },
});
