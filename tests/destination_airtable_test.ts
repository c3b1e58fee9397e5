// Airtable: a fake Airtable API on 127.0.0.1 that creates records the way the Web API does (the
// token, the base and the table from the path, JSON with `records` of `fields`, field names
// checked against the table, text converted only with `typecast`) and answers with Airtable's
// documented errors; the classification of each answer; config problems at their JSON paths.

import assert from "node:assert/strict";
import type { DestinationRuntime } from "../src/compile.ts";
import { classifyAirtable, recordsUrl } from "../src/destination_airtable.ts";
import { destinationContract, jsonAnswer } from "./destination_contract.ts";
import {
  compiledDestination,
  deliveryOf,
  deliveryWith,
  destinationConfigError,
  hostileMessage,
  type Json,
  sendContext,
} from "./destination_kit.ts";
import { type Answer, FakeServer, type Received } from "./helpers.ts";

const TOKEN = "patAt5Ecr3tT0ken.0123456789abcdef0123456789abcdef";
const BASE = "appTESTBASE000001";
const TABLE = "Influencer commissions";

/** The fields of the fake table: name → whether it is a number field. */
const COLUMNS: Record<string, "text" | "number"> = {
  "Name": "text",
  "Deal": "text",
  "Event": "text",
  "Old %": "number",
  "New %": "number",
  "Comment": "text",
};

function airtableError(status: number, type: string, message: string): Answer {
  return jsonAnswer(status, { error: { type, message } });
}

/** An Airtable base with one table; `accepted` records what it created. */
function fakeAirtable(mode: () => "ok" | "limited" = () => "ok") {
  const accepted: Array<Record<string, unknown>> = [];
  const server = new FakeServer((request: Received) => {
    if (request.headers.get("authorization") !== `Bearer ${TOKEN}`) {
      return airtableError(401, "AUTHENTICATION_REQUIRED", "Authentication required");
    }
    if (mode() === "limited") {
      return airtableError(
        429,
        "RATE_LIMIT_REACHED",
        "Rate limit exceeded. Please try again later",
      );
    }
    const match = /^\/v0\/([^/]+)\/([^/?]+)$/.exec(request.path);
    if (request.method !== "POST" || match === null) return jsonAnswer(404, { error: "NOT_FOUND" });
    if (match[1] !== BASE || decodeURIComponent(match[2]!) !== TABLE) {
      return airtableError(
        403,
        "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
        "Invalid permissions, or the requested model was not found. Check that both your user " +
          "and your token have the required permissions, and that the model names and/or ids " +
          "are correct.",
      );
    }
    let body: Json;
    try {
      if (request.headers.get("content-type") !== "application/json") throw new TypeError();
      body = JSON.parse(request.body);
    } catch {
      return airtableError(
        422,
        "INVALID_REQUEST_UNKNOWN",
        "Invalid request: parameter validation failed. Check your request data.",
      );
    }
    const records = body.records;
    if (!Array.isArray(records) || records.length < 1 || records.length > 10) {
      return airtableError(
        422,
        "INVALID_RECORDS",
        "Invalid records: you must provide an array of up to 10 record objects, each with a " +
          "fields key mapping field names to values",
      );
    }
    const created = [];
    for (const record of records) {
      const fields: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(record.fields ?? {})) {
        const column = COLUMNS[name];
        if (column === undefined) {
          return airtableError(422, "UNKNOWN_FIELD_NAME", `Unknown field name: "${name}"`);
        }
        if (column === "number" && typeof value !== "number") {
          const converted = body.typecast === true ? Number(value) : NaN;
          if (Number.isNaN(converted)) {
            return airtableError(
              422,
              "INVALID_VALUE_FOR_COLUMN",
              `Field "${name}" cannot accept the provided value`,
            );
          }
          fields[name] = converted;
        } else {
          fields[name] = value;
        }
      }
      created.push({
        id: `rec${created.length}Ab12Cd34Ef56`,
        createdTime: new Date().toISOString(),
        fields,
      });
    }
    accepted.push(...created.map((record) => record.fields));
    return jsonAnswer(200, { records: created });
  });
  return { server, accepted };
}

function configOf(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: "airtable",
    token: TOKEN,
    base_id: BASE,
    table: TABLE,
    fields: {
      "Name": "{{ deal_info.full_name }}",
      "Deal": "{{ deal_id }}",
      "Event": "{{ event.type }}",
      "Old %": "{{ commission_information.old_commission_perc }}",
      "New %": "{{ commission_information.new_commission_perc }}",
      "Comment": "{{ max_bid_information.max_bid_comment }}",
    },
    api_url: url,
    ...extra,
  };
}

/** The destination "at" compiled from config as the relay compiles it. */
function runtimeOf(entry: Record<string, unknown>): DestinationRuntime {
  return compiledDestination("at", entry);
}

function problemsOf(entry: Record<string, unknown>): string {
  return destinationConfigError("at", entry)?.message ?? "";
}

Deno.test("an update_commission event becomes one record, its fields rendered and typecast", async () => {
  const { server, accepted } = fakeAirtable();
  try {
    const destination = runtimeOf(configOf(server.url)).destination;
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    const received = server.received[0]!;
    assert.equal(received.path, `/v0/${BASE}/Influencer%20commissions`);
    assert.equal(received.headers.get("authorization"), `Bearer ${TOKEN}`);
    assert.equal(received.headers.get("content-type"), "application/json");
    const body = JSON.parse(received.body);
    assert.equal(body.typecast, true);
    // Text as rendered; the comment, empty for this event, is left out rather than sent as "".
    assert.deepEqual(body.records, [{
      fields: {
        "Name": "Dwayne Johnson",
        "Deal": "xyz789",
        "Event": "update_commission",
        "Old %": "10",
        "New %": "15",
      },
    }]);
    assert.deepEqual(accepted, [{
      "Name": "Dwayne Johnson",
      "Deal": "xyz789",
      "Event": "update_commission",
      "Old %": 10,
      "New %": 15,
    }]);
  } finally {
    await server.close();
  }
});

Deno.test("without typecast, text in a number field is refused for good with Airtable's reason", async () => {
  const { server, accepted } = fakeAirtable();
  try {
    const destination = runtimeOf(configOf(server.url, { typecast: false })).destination;
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(outcome.kind, "failed");
    assert.equal(outcome.httpStatus, 422);
    assert.equal(
      outcome.kind === "failed" && outcome.error,
      'HTTP 422: INVALID_VALUE_FOR_COLUMN: Field "Old %" cannot accept the provided value',
    );
    assert.equal(JSON.parse(server.received[0]!.body).typecast, false);
    assert.deepEqual(accepted, []);
  } finally {
    await server.close();
  }
});

Deno.test("a field the table does not have fails the delivery with UNKNOWN_FIELD_NAME", async () => {
  const { server, accepted } = fakeAirtable();
  try {
    const entry = configOf(server.url);
    entry["fields"] = {
      "Name": "{{ deal_info.full_name }}",
      "Stage": "{{ deal_info.dealflow_name }}",
    };
    const outcome = await runtimeOf(entry).destination.send(
      deliveryOf("new_max_bid"),
      sendContext(),
    );
    assert.equal(outcome.kind, "failed");
    assert.equal(
      outcome.kind === "failed" && outcome.error,
      'HTTP 422: UNKNOWN_FIELD_NAME: Unknown field name: "Stage"',
    );
    assert.deepEqual(accepted, []);
  } finally {
    await server.close();
  }
});

Deno.test("a refused token, a base or table it cannot reach, and an unknown route are gone", async () => {
  const { server, accepted } = fakeAirtable();
  try {
    const send = (extra: Record<string, unknown>) =>
      runtimeOf(configOf(server.url, extra)).destination.send(
        deliveryOf("update_commission"),
        sendContext(),
      );
    const badToken = await send({ token: "patRevoked.00" });
    assert.equal(badToken.kind, "gone");
    assert.equal(badToken.httpStatus, 401);
    assert.match(badToken.kind === "gone" ? badToken.error : "", /AUTHENTICATION_REQUIRED/);
    assert.doesNotMatch(badToken.kind === "gone" ? badToken.error : "", /patRevoked/);
    const otherBase = await send({ base_id: "appOTHERBASE00001" });
    assert.equal(otherBase.kind, "gone");
    assert.equal(otherBase.httpStatus, 403);
    assert.match(
      otherBase.kind === "gone" ? otherBase.error : "",
      /^HTTP 403: INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND: Invalid permissions/,
    );
    const otherTable = await send({ table: "Deleted table" });
    assert.equal(otherTable.httpStatus, 403);
    assert.equal(otherTable.kind, "gone");
    const wrongRoute = await send({ api_url: `${server.url}/proxy` });
    assert.deepEqual(wrongRoute, { kind: "gone", httpStatus: 404, error: "HTTP 404: NOT_FOUND" });
    assert.deepEqual(accepted, []);
  } finally {
    await server.close();
  }
});

Deno.test("a 429 waits Airtable's 30 seconds, or the Retry-After it sends", async () => {
  let mode: "ok" | "limited" = "limited";
  const { server, accepted } = fakeAirtable(() => mode);
  try {
    const destination = runtimeOf(configOf(server.url)).destination;
    const limited = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(limited, {
      kind: "retry",
      httpStatus: 429,
      error: "HTTP 429: RATE_LIMIT_REACHED: Rate limit exceeded. Please try again later",
      retryAfterMs: 30_000,
    });
    mode = "ok";
    assert.equal(
      (await destination.send(deliveryOf("update_commission"), sendContext())).kind,
      "delivered",
    );
    assert.equal(accepted.length, 1);
  } finally {
    await server.close();
  }
  const told = classifyAirtable(
    { status: 429, headers: new Headers({ "retry-after": "5" }), body: "" },
    Date.now(),
  );
  assert.equal(told.kind === "retry" && told.retryAfterMs, 5_000);
});

Deno.test("Airtable's 5xx answers are retried, other 4xx fail", () => {
  const answer = (status: number, body: unknown) => ({
    status,
    headers: new Headers({ "content-type": "application/json" }),
    body: JSON.stringify(body),
  });
  for (const status of [500, 502, 503]) {
    const outcome = classifyAirtable(
      answer(status, { error: { type: "SERVER_ERROR", message: "Try again" } }),
      0,
    );
    assert.equal(outcome.kind, "retry", String(status));
    assert.equal(outcome.kind === "retry" && outcome.retryAfterMs, undefined);
  }
  const tooLarge = classifyAirtable(
    answer(413, { error: { type: "REQUEST_TOO_LARGE", message: "Request body too large" } }),
    0,
  );
  assert.equal(tooLarge.kind, "failed");
  assert.match(tooLarge.kind === "failed" ? tooLarge.error : "", /REQUEST_TOO_LARGE/);
});

Deno.test("a field's template that does not compile is a config problem at its JSON path", () => {
  const entry = configOf("https://api.airtable.com");
  entry["fields"] = {
    "Name": "{{ deal_info.full_name }}",
    "New %": "{{ commission_information.new_commission_perc | nope }}",
  };
  assert.match(problemsOf(entry), /destinations\.at\.fields\.New %: /);
});

Deno.test("airtable config problems name their JSON path and never echo the token", () => {
  const problems = problemsOf({
    type: "airtable",
    token: "key-leaked-legacy-api-key",
    base_id: "https://airtable.com/appX",
    table: "",
    fields: {},
    api_url: "ftp://x",
  });
  assert.match(
    problems,
    /destinations\.at\.token: expected a personal access token starting with "pat"/,
  );
  assert.match(problems, /destinations\.at\.base_id: expected a base id/);
  assert.match(problems, /destinations\.at\.table: expected the table's name or id/);
  assert.match(problems, /destinations\.at\.fields: expected at least one field/);
  assert.match(problems, /destinations\.at\.api_url: expected an http:\/\/ or https:\/\/ URL/);
  assert.doesNotMatch(problems, /leaked/);
  // Switched off by an unset variable, it may be incomplete.
  assert.equal(
    problemsOf({ type: "airtable", enabled: "", token: "", base_id: "", table: "", fields: {} }),
    "",
  );
});

Deno.test("the preview masks the token and shows the request Airtable receives", () => {
  const rendered = runtimeOf(configOf("https://api.airtable.com")).destination.render(
    deliveryOf("new_payout_request"),
  );
  assert.equal(rendered.method, "POST");
  assert.equal(rendered.url, `https://api.airtable.com/v0/${BASE}/Influencer%20commissions`);
  assert.equal(rendered.headers["authorization"], "***");
  assert.doesNotMatch(JSON.stringify(rendered), /patAt5Ecr3tT0ken/);
  assert.deepEqual(JSON.parse(rendered.body).records[0].fields, {
    Name: "Dwayne Johnson",
    Deal: "DEAL-67890",
    Event: "new_payout_request",
  });
});

Deno.test("an airtable destination renders messages only when a field's template uses one", () => {
  assert.equal(runtimeOf(configOf("https://api.airtable.com")).rendersMessages, false);
  const entry = configOf("https://api.airtable.com");
  entry["fields"] = { "Name": "{{ message.title }}" };
  assert.equal(runtimeOf(entry).rendersMessages, true);
});

Deno.test("recordsUrl() encodes the table name and drops a trailing slash", () => {
  assert.equal(
    recordsUrl("https://api.airtable.com/", "appA", "Deals / 2026"),
    "https://api.airtable.com/v0/appA/Deals%20%2F%202026",
  );
  assert.equal(recordsUrl("https://x.example", "appA", "tblB"), "https://x.example/v0/appA/tblB");
});

destinationContract({
  type: "airtable",
  config: (base) => ({
    type: "airtable",
    token: TOKEN,
    base_id: BASE,
    table: TABLE,
    fields: {
      "Name": "{{ deal_info.full_name }}",
      "Event": "{{ event.type }}",
      "Comment": "{{ message.title }}\n{{ message.text }}",
    },
    api_url: base,
  }),
  secrets: [TOKEN],
  json: true,
  service: {
    ok: jsonAnswer(200, {
      records: [{ id: "recA1b2C3d4E5f6G7", createdTime: "2026-01-15T12:00:00.000Z", fields: {} }],
    }),
    gone: airtableError(
      403,
      "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
      "Invalid permissions, or the requested model was not found.",
    ),
    // Airtable documents a 30 s wait after a 429 and sends no Retry-After.
    rateLimited: {
      answer: airtableError(
        429,
        "RATE_LIMIT_REACHED",
        "Rate limit exceeded. Please try again later",
      ),
      waitMs: 30_000,
    },
    serverError: airtableError(503, "SERVICE_UNAVAILABLE", "Service unavailable"),
    rejected: airtableError(422, "UNKNOWN_FIELD_NAME", 'Unknown field name: "Comment"'),
  },
  hostile(rendered) {
    for (const value of Object.values(JSON.parse(rendered.body).records[0].fields)) {
      assert.ok(String(value).length <= 100_000);
    }
  },
});

Deno.test("a hostile message's text stays as written in a cell, within Airtable's 100,000 characters", () => {
  const entry = configOf("https://api.airtable.com");
  entry["fields"] = {
    "Comment": "{{ message.text }}{{ message.text }}{{ message.text }}".repeat(4),
  };
  const rendered = runtimeOf(entry).destination.render(deliveryWith(hostileMessage()));
  const comment: string = JSON.parse(rendered.body).records[0].fields.Comment;
  assert.ok(comment.length <= 100_000);
  assert.ok(comment.includes("<!channel> <!here> <!everyone>"));
});
