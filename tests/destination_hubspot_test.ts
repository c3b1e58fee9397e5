// HubSpot: a fake HubSpot on 127.0.0.1 that checks the private app's bearer token and its
// scopes, validates e-mails and property names as HubSpot does (400 VALIDATION_ERROR "Property
// values were not valid: […]"), keeps contacts by e-mail (an upsert creates, then updates the
// same id), stores notes with their association, and answers 401, 403 and 429 with HubSpot's
// bodies; the destination built from config the way the relay builds it; and the contract.

import assert from "node:assert/strict";
import { compileConfig } from "../src/compile.ts";
import { parseConfig } from "../src/config.ts";
import type { Destination } from "../src/destination.ts";
import { classifyHubspot, HUBSPOT_NOTE_CHARS, noteHtml } from "../src/destination_hubspot.ts";
import { destinationContract, jsonAnswer } from "./destination_contract.ts";
import {
  compiledDestination,
  deliveryOf,
  destinationConfigError,
  type Json,
  sendContext,
} from "./destination_kit.ts";
import {
  type Answer,
  eventually,
  FakeServer,
  freshSample,
  post,
  type Received,
  SECRET,
  testConfig,
  testRelay,
} from "./helpers.ts";

const TOKEN = "pat-na1-0b8c7d6e-1111-2222-3333-444455556666";
const UPSERT = "/crm/v3/objects/contacts/batch/upsert";
const NOTES = "/crm/v3/objects/notes";

/** HubSpot's error body. */
function hubspotError(
  status: number,
  category: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Answer {
  return jsonAnswer(status, {
    status: "error",
    message,
    correlationId: "6f1c2a8e-5b0d-4c1e-9a57-2d3f4e5a6b7c",
    category,
    ...extra,
  }, headers);
}

const INVALID_AUTHENTICATION = hubspotError(
  401,
  "INVALID_AUTHENTICATION",
  "Authentication credentials not found. This API supports OAuth 2.0 authentication and you " +
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
);

const MISSING_SCOPES = hubspotError(
  403,
  "MISSING_SCOPES",
  "This app hasn't been granted all required scopes to make this call. Read more about " +
    "required scopes here: https://developers.hubspot.com/scopes.",
  {
    errors: [{
      message: "One or more of the following scopes are required.",
      context: { requiredGranularScopes: ["crm.objects.contacts.write"] },
    }],
    links: { scopes: "https://developers.hubspot.com/scopes" },
  },
);

/** HubSpot's 429: `policyName` instead of `category`. */
function rateLimited(policy: "TEN_SECONDLY_ROLLING" | "DAILY", headers = {}): Answer {
  return jsonAnswer(429, {
    status: "error",
    message: `You have reached your ${
      policy === "DAILY" ? "daily" : "ten_secondly_rolling"
    } limit.`,
    errorType: "RATE_LIMIT",
    correlationId: "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
    policyName: policy,
    groupName: "publicapi:private-app:1234567",
  }, headers);
}

/** HubSpot's VALIDATION_ERROR of property values. */
function invalidProperties(problems: Array<Record<string, unknown>>): Answer {
  return hubspotError(
    400,
    "VALIDATION_ERROR",
    `Property values were not valid: ${JSON.stringify(problems)}`,
  );
}

/** The contact properties the fake account has: HubSpot's own and one custom. */
const KNOWN_PROPERTIES = new Set([
  "email",
  "firstname",
  "lastname",
  "phone",
  "company",
  "website",
  "lifecyclestage",
  "instagram_handle",
]);

interface Contact {
  id: string;
  properties: Record<string, string>;
}

interface Note {
  id: string;
  properties: Record<string, string>;
  contactIds: string[];
}

/** A HubSpot account reached with one private app's token. */
class FakeHubspot {
  contacts = new Map<string, Contact>();
  notes: Note[] = [];
  /** The app's scopes; without contacts write, every call is refused. */
  scopes = new Set(["crm.objects.contacts.read", "crm.objects.contacts.write"]);
  /** Answers given before any other, per path, one each. */
  queued = new Map<string, Answer[]>();
  server: FakeServer;
  #ids = 100;

  constructor() {
    this.server = new FakeServer((request) => this.#answer(request));
  }

  get url(): string {
    return this.server.url;
  }

  get received(): Received[] {
    return this.server.received;
  }

  queue(path: string, ...answers: Answer[]): void {
    this.queued.set(path, [...(this.queued.get(path) ?? []), ...answers]);
  }

  close(): Promise<void> {
    return this.server.close();
  }

  #answer(request: Received): Answer {
    const queued = this.queued.get(request.path)?.shift();
    if (queued !== undefined) return queued;
    if (request.headers.get("authorization") !== `Bearer ${TOKEN}`) return INVALID_AUTHENTICATION;
    if (!this.scopes.has("crm.objects.contacts.write")) return MISSING_SCOPES;
    let body: Json;
    try {
      body = JSON.parse(request.body);
    } catch {
      return hubspotError(400, "VALIDATION_ERROR", "Invalid input JSON on line 1");
    }
    if (request.method === "POST" && request.path === UPSERT) return this.#upsert(body);
    if (request.method === "POST" && request.path === NOTES) return this.#note(body);
    return hubspotError(404, "OBJECT_NOT_FOUND", "Resource not found");
  }

  #upsert(body: Json): Answer {
    const input = body?.inputs?.[0];
    if (body?.inputs?.length !== 1 || input.idProperty !== "email") {
      return hubspotError(400, "VALIDATION_ERROR", "Invalid input: idProperty must be email");
    }
    const email = String(input.id);
    const problems: Array<Record<string, unknown>> = [];
    // HubSpot checks the format and that the domain ends in a real top-level domain.
    if (!/^[^\s@"]+@[^\s@]+\.(com|net|org|io|co|de)$/i.test(email)) {
      const message = `Email address ${email} is invalid`;
      problems.push({
        isValid: false,
        message,
        error: "INVALID_EMAIL",
        name: "email",
        localizedErrorMessage: message,
      });
    }
    for (const name of Object.keys(input.properties ?? {})) {
      if (!KNOWN_PROPERTIES.has(name)) {
        const message = `Property "${name}" does not exist`;
        problems.push({
          isValid: false,
          message,
          error: "PROPERTY_DOESNT_EXIST",
          name,
          localizedErrorMessage: message,
        });
      }
    }
    if (problems.length > 0) return invalidProperties(problems);
    const key = email.toLowerCase();
    const existing = this.contacts.get(key);
    const contact = existing ?? { id: String(this.#ids++), properties: { email: key } };
    Object.assign(contact.properties, input.properties);
    this.contacts.set(key, contact);
    const at = "2026-01-15T12:00:01.000Z";
    return jsonAnswer(200, {
      status: "COMPLETE",
      results: [{
        id: contact.id,
        properties: contact.properties,
        createdAt: at,
        updatedAt: at,
        archived: false,
        new: existing === undefined,
      }],
      startedAt: at,
      completedAt: at,
    });
  }

  #note(body: Json): Answer {
    const properties = body?.properties ?? {};
    if (!properties.hs_timestamp || Number.isNaN(Date.parse(properties.hs_timestamp))) {
      return invalidProperties([{
        isValid: false,
        message: "hs_timestamp is required",
        error: "REQUIRED_FIELD",
        name: "hs_timestamp",
      }]);
    }
    const contactIds: string[] = [];
    for (const association of body.associations ?? []) {
      const type = association.types?.[0];
      if (type?.associationCategory !== "HUBSPOT_DEFINED" || type?.associationTypeId !== 202) {
        return hubspotError(
          400,
          "VALIDATION_ERROR",
          "Invalid association type for note to contact",
        );
      }
      const id = String(association.to?.id);
      if (![...this.contacts.values()].some((c) => c.id === id)) {
        return hubspotError(400, "VALIDATION_ERROR", `Could not find object ids: [${id}]`);
      }
      contactIds.push(id);
    }
    const note = { id: String(this.#ids++), properties, contactIds };
    this.notes.push(note);
    return jsonAnswer(201, {
      id: note.id,
      properties: { ...properties, hs_object_id: note.id },
      createdAt: "2026-01-15T12:00:02.000Z",
      updatedAt: "2026-01-15T12:00:02.000Z",
      archived: false,
    });
  }
}

const INFLUENCER_CRM = {
  type: "hubspot",
  token: TOKEN,
  email: "{{ email_information.from_addr }}",
  properties: {
    firstname: "{{ deal_info.full_name | split: ' ' | first }}",
    lastname: "{{ deal_info.full_name | split: ' ' | last }}",
    instagram_handle:
      "{% if deal_info.platform == 'instagram' %}{{ deal_info.deal_name }}{% endif %}",
  },
};

function configText(destination: Record<string, unknown>): string {
  return JSON.stringify({
    influencer_hero: { signing_secrets: [SECRET] },
    destinations: { crm: destination },
    routes: [{ name: "all", events: "*", to: ["crm"] }],
  });
}

/** The destination built from config the way the relay builds it. */
function build(destination: Record<string, unknown>): Destination {
  return compiledDestination("crm", destination).destination;
}

/** The config problems of a destination, one text. */
function problems(destination: Record<string, unknown>): string {
  return destinationConfigError("crm", destination)?.message ?? "";
}

Deno.test("an influencer's reply creates the contact with its properties and logs a note on it", async () => {
  const hub = new FakeHubspot();
  try {
    const destination = build({ ...INFLUENCER_CRM, api_url: hub.url });
    const outcome = await destination.send(deliveryOf("new_influencer_reply"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 201 });

    const [upsert, note] = hub.received;
    assert.equal(hub.received.length, 2);
    assert.equal(upsert!.path, UPSERT);
    assert.equal(upsert!.headers.get("authorization"), `Bearer ${TOKEN}`);
    assert.equal(upsert!.headers.get("content-type"), "application/json");
    assert.deepEqual(JSON.parse(upsert!.body), {
      inputs: [{
        idProperty: "email",
        id: "janedoe@example.com",
        properties: { firstname: "Dwayne", lastname: "Johnson", instagram_handle: "therock" },
      }],
    });
    const contact = hub.contacts.get("janedoe@example.com")!;
    assert.equal(contact.properties["instagram_handle"], "therock");

    assert.equal(note!.path, NOTES);
    assert.equal(note!.headers.get("authorization"), `Bearer ${TOKEN}`);
    const sent = JSON.parse(note!.body);
    assert.equal(sent.properties.hs_timestamp, "2026-01-15T12:00:00.000Z");
    assert.match(sent.properties.hs_note_body, /Dwayne Johnson/);
    assert.match(sent.properties.hs_note_body, /I would love to discuss more details/);
    assert.match(sent.properties.hs_note_body, /<br>/);
    assert.deepEqual(sent.associations, [{
      to: { id: contact.id },
      types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId: 202 }],
    }]);
    assert.equal(hub.notes.length, 1);
    assert.deepEqual(hub.notes[0]!.contactIds, [contact.id]);
  } finally {
    await hub.close();
  }
});

Deno.test("the same e-mail again updates the same contact: one contact, two notes", async () => {
  const hub = new FakeHubspot();
  try {
    const destination = build({ ...INFLUENCER_CRM, api_url: hub.url });
    const first = deliveryOf("new_influencer_reply");
    assert.equal((await destination.send(first, sendContext())).kind, "delivered");
    const payload = structuredClone(first.payload) as Json;
    // The same person, another capitalisation of the address and a new name on the deal.
    payload.email_information.from_addr = "JaneDoe@Example.com";
    payload.deal_info.full_name = "Jane Doe";
    const second = deliveryOf("new_influencer_reply", { payload });
    assert.equal((await destination.send(second, sendContext())).kind, "delivered");

    assert.equal(hub.contacts.size, 1);
    const contact = hub.contacts.get("janedoe@example.com")!;
    assert.equal(contact.properties["firstname"], "Jane");
    assert.equal(contact.properties["lastname"], "Doe");
    assert.equal(hub.notes.length, 2);
    assert.deepEqual(hub.notes.map((n) => n.contactIds), [[contact.id], [contact.id]]);
  } finally {
    await hub.close();
  }
});

Deno.test("an unknown property or an address HubSpot refuses fails with HubSpot's message, and no note is made", async () => {
  const hub = new FakeHubspot();
  try {
    const unknown = build({
      ...INFLUENCER_CRM,
      api_url: hub.url,
      properties: { tiktok_handle: "{{ deal_info.deal_name }}" },
    });
    const outcome = await unknown.send(deliveryOf("new_influencer_reply"), sendContext());
    assert.equal(outcome.kind, "failed", JSON.stringify(outcome));
    assert.equal(outcome.httpStatus, 400);
    const error = outcome.kind === "failed" ? outcome.error : "";
    assert.match(error, /^contact: HTTP 400 VALIDATION_ERROR: Property values were not valid/);
    assert.match(error, /Property \\"tiktok_handle\\" does not exist/);
    assert.match(error, /correlationId 6f1c2a8e/);

    const badAddress = build({
      ...INFLUENCER_CRM,
      api_url: hub.url,
      email: "{{ deal_info.deal_name }}",
    });
    const refused = await badAddress.send(deliveryOf("new_influencer_reply"), sendContext());
    assert.equal(refused.kind, "failed");
    assert.match(
      refused.kind === "failed" ? refused.error : "",
      /INVALID_EMAIL.*therock is invalid/,
    );

    assert.equal(hub.received.length, 2);
    assert.ok(hub.received.every((r) => r.path === UPSERT));
    assert.equal(hub.contacts.size, 0);
    assert.equal(hub.notes.length, 0);
  } finally {
    await hub.close();
  }
});

Deno.test("a 207 batch answer whose one input was refused fails with its error", async () => {
  const hub = new FakeHubspot();
  hub.queue(
    UPSERT,
    jsonAnswer(207, {
      status: "COMPLETE",
      results: [],
      numErrors: 1,
      errors: [{
        status: "error",
        category: "VALIDATION_ERROR",
        message: 'Property values were not valid: [{"error":"INVALID_OPTION"}]',
      }],
    }),
  );
  try {
    const outcome = await build({ ...INFLUENCER_CRM, api_url: hub.url }).send(
      deliveryOf("new_influencer_reply"),
      sendContext(),
    );
    assert.equal(outcome.kind, "failed", JSON.stringify(outcome));
    assert.match(
      outcome.kind === "failed" ? outcome.error : "",
      /^contact: HTTP 207 VALIDATION_ERROR: Property values were not valid/,
    );
    assert.equal(hub.received.length, 1);
  } finally {
    await hub.close();
  }
});

Deno.test("a private app without the contacts scope is gone, the scopes it needs named", async () => {
  const hub = new FakeHubspot();
  hub.scopes.clear();
  try {
    const outcome = await build({ ...INFLUENCER_CRM, api_url: hub.url }).send(
      deliveryOf("new_influencer_reply"),
      sendContext(),
    );
    assert.equal(outcome.kind, "gone", JSON.stringify(outcome));
    assert.equal(outcome.httpStatus, 403);
    const error = outcome.kind === "gone" ? outcome.error : "";
    assert.match(error, /^contact: HTTP 403 MISSING_SCOPES: This app hasn't been granted/);
    assert.match(error, /needs the scopes crm\.objects\.contacts\.write\)$/);
    assert.equal(hub.received.length, 1);
  } finally {
    await hub.close();
  }
});

Deno.test("a wrong or revoked token is gone, and the token is never in the error", async () => {
  const hub = new FakeHubspot();
  try {
    const outcome = await build({ ...INFLUENCER_CRM, api_url: hub.url, token: "pat-na1-revoked" })
      .send(deliveryOf("new_influencer_reply"), sendContext());
    assert.equal(outcome.kind, "gone");
    assert.equal(outcome.httpStatus, 401);
    const error = outcome.kind === "gone" ? outcome.error : "";
    assert.match(error, /INVALID_AUTHENTICATION: Authentication credentials not found/);
    assert.match(error, /wrong, expired or revoked/);
    assert.doesNotMatch(error, /pat-na1/);
  } finally {
    await hub.close();
  }
});

Deno.test("a 429 waits: Retry-After when HubSpot sends one, else 10 s (ten-secondly) or an hour (daily)", async () => {
  const hub = new FakeHubspot();
  try {
    hub.queue(
      UPSERT,
      rateLimited("TEN_SECONDLY_ROLLING"),
      rateLimited("TEN_SECONDLY_ROLLING", { "retry-after": "3" }),
    );
    hub.queue(NOTES, rateLimited("DAILY"));
    const destination = build({ ...INFLUENCER_CRM, api_url: hub.url });
    const delivery = deliveryOf("new_influencer_reply");
    const waits: Array<number | undefined> = [];
    for (let i = 0; i < 3; i++) {
      const outcome = await destination.send(delivery, sendContext());
      assert.equal(outcome.kind, "retry", JSON.stringify(outcome));
      assert.equal(outcome.httpStatus, 429);
      waits.push(outcome.kind === "retry" ? outcome.retryAfterMs : -1);
    }
    assert.deepEqual(waits, [10_000, 3_000, 3_600_000]);
    const after = await destination.send(delivery, sendContext());
    assert.equal(after.kind, "delivered");
    assert.equal(hub.contacts.size, 1);
    assert.equal(hub.notes.length, 1);
  } finally {
    await hub.close();
  }
});

Deno.test("a note failing with 5xx is retried by the relay, and the contact is not duplicated", async () => {
  const hub = new FakeHubspot();
  hub.queue(
    NOTES,
    hubspotError(502, "INTERNAL_ERROR", "Bad Gateway"),
  );
  const dir = await Deno.makeTempDir();
  const { relay, logs } = await testRelay(testConfig(dir, {
    destinations: {
      crm: {
        ...INFLUENCER_CRM,
        api_url: hub.url,
        retry: { schedule: ["0s", "10ms"], jitter: 0 },
      },
    },
    routes: [{ name: "replies", events: ["new_influencer_reply"], to: ["crm"] }],
  }));
  try {
    const accepted = await post(relay.url, "/hooks", freshSample("new_influencer_reply"));
    assert.equal(accepted.status, 200);
    await eventually(() => logs.find("delivered").length === 1, 10_000, "the delivery");
    assert.deepEqual(hub.received.map((r) => r.path), [UPSERT, NOTES, UPSERT, NOTES]);
    assert.equal(hub.contacts.size, 1);
    assert.equal(hub.notes.length, 1);
    const failed = logs.find("attempt failed");
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!["status"], 502);
    assert.match(String(failed[0]!["error"]), /^note \(contact \d+ saved\): HTTP 502/);
    assert.ok(!logs.lines.join("\n").includes(TOKEN), "the logs show the token");
  } finally {
    await relay.stop();
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a note that never answers times out within the attempt's total, as a retry", async () => {
  let release = () => {};
  const held = new Promise<Answer>((resolve) => {
    release = () => resolve(jsonAnswer(201, { id: "late" }));
  });
  const server = new FakeServer((request) =>
    request.path === NOTES
      ? held
      : jsonAnswer(200, { status: "COMPLETE", results: [{ id: "151" }] })
  );
  try {
    const context = { ...sendContext(), timeouts: { connectMs: 1_000, totalMs: 1_500 } };
    const outcome = await build({ ...INFLUENCER_CRM, api_url: server.url }).send(
      deliveryOf("new_influencer_reply"),
      context,
    );
    assert.equal(outcome.kind, "retry", JSON.stringify(outcome));
    assert.match(
      outcome.kind === "retry" ? outcome.error : "",
      /^note \(contact 151 saved\): timed out after \d+ ms$/,
    );
    // The note had what the contact left of the 1.5 s, or nothing when the contact took it all.
    assert.equal(server.received[0]!.path, UPSERT);
  } finally {
    release();
    await server.close();
  }
});

Deno.test("an e-mail that renders empty fails for good and sends nothing", async () => {
  const hub = new FakeHubspot();
  try {
    const destination = build({ ...INFLUENCER_CRM, api_url: hub.url });
    // A payout request carries no e-mail information.
    const outcome = await destination.send(deliveryOf("new_payout_request"), sendContext());
    assert.deepEqual(outcome, {
      kind: "failed",
      httpStatus: null,
      error: "the email template rendered empty: no contact to create or update",
    });
    assert.equal(hub.received.length, 0);
    const rendered = destination.render(deliveryOf("new_payout_request"));
    assert.equal(rendered.method, "ERROR");
    assert.match(rendered.body, /rendered empty/);
  } finally {
    await hub.close();
  }
});

Deno.test("without a note only the contact is sent; a note that renders empty is left out", async () => {
  const hub = new FakeHubspot();
  try {
    const quiet = build({ ...INFLUENCER_CRM, api_url: hub.url, note: false });
    assert.deepEqual(await quiet.send(deliveryOf("new_influencer_reply"), sendContext()), {
      kind: "delivered",
      httpStatus: 200,
    });
    const onlyOrders = build({
      ...INFLUENCER_CRM,
      api_url: hub.url,
      note: "{% if order_information %}Ordered {{ order_information.order_id }}{% endif %}",
    });
    assert.equal(
      (await onlyOrders.send(deliveryOf("new_influencer_reply"), sendContext())).kind,
      "delivered",
    );
    assert.deepEqual(hub.received.map((r) => r.path), [UPSERT, UPSERT]);
    assert.equal(hub.notes.length, 0);
    assert.doesNotMatch(quiet.render(deliveryOf("new_influencer_reply")).body, /hs_note_body/);
  } finally {
    await hub.close();
  }
});

Deno.test("a note template's text is HTML-escaped, one line per line", async () => {
  const hub = new FakeHubspot();
  try {
    const destination = build({
      ...INFLUENCER_CRM,
      api_url: hub.url,
      note: "Reply: {{ email_information.email_subject }}\n<b>{{ deal_info.full_name }}</b> & co",
    });
    assert.equal(
      (await destination.send(deliveryOf("new_influencer_reply"), sendContext())).kind,
      "delivered",
    );
    assert.equal(
      hub.notes[0]!.properties["hs_note_body"],
      "Reply: Re: Collaboration Proposal<br>&lt;b&gt;Dwayne Johnson&lt;/b&gt; &amp; co",
    );
  } finally {
    await hub.close();
  }
});

Deno.test("noteHtml() keeps within HubSpot's 65,536 characters without cutting an entity", () => {
  const html = noteHtml("<&>".repeat(40_000));
  assert.ok(html.length <= HUBSPOT_NOTE_CHARS, `${html.length}`);
  assert.match(html, /^(&lt;&amp;&gt;)+(&lt;|&lt;&amp;)?…$/);
});

Deno.test("the preview shows both requests with the token masked", () => {
  const rendered = build({ ...INFLUENCER_CRM, token: TOKEN }).render(
    deliveryOf("new_influencer_reply"),
  );
  assert.equal(rendered.method, "POST");
  assert.equal(rendered.url, "https://api.hubapi.com/crm/v3/objects/");
  assert.equal(rendered.headers["authorization"], "***");
  const body = JSON.parse(rendered.body);
  assert.deepEqual(Object.keys(body), ["contacts/batch/upsert", "notes"]);
  assert.equal(body["contacts/batch/upsert"].inputs[0].id, "janedoe@example.com");
  assert.equal(body.notes.associations[0].to.id, "(the contact's id)");
  assert.ok(!JSON.stringify(rendered).includes(TOKEN));
});

Deno.test("config problems name their JSON path: templates, property names, token, e-mail", () => {
  const bad = problems({
    ...INFLUENCER_CRM,
    properties: { firstname: "{{ deal_info.full_name | nope }}" },
    note: "{% if %}",
  });
  assert.match(bad, /destinations\.crm\.properties\.firstname: /);
  assert.match(bad, /destinations\.crm\.note: /);
  assert.match(problems({ ...INFLUENCER_CRM, email: "{{ x" }), /destinations\.crm\.email: /);

  const shape = problems({
    ...INFLUENCER_CRM,
    token: "",
    email: " ",
    properties: { "First Name": "x", email: "{{ a }}" },
    api_url: "ftp://x",
  });
  assert.match(
    shape,
    /destinations\.crm\.token: expected a HubSpot service key or private app access token/,
  );
  assert.match(shape, /destinations\.crm\.email: expected a template of the e-mail/);
  assert.match(
    shape,
    /destinations\.crm\.properties\["First Name"\]: expected a property's internal name/,
  );
  assert.match(
    shape,
    /destinations\.crm\.properties\.email: the contact's e-mail is set by "email"/,
  );
  assert.match(shape, /destinations\.crm\.api_url: expected an http:\/\/ or https:\/\/ URL/);
  // A disabled destination may be incomplete: its variables are simply not set.
  assert.equal(problems({ type: "hubspot", enabled: false, token: "", email: "" }), "");
});

Deno.test("the token may come from token_file, and a property named *_file is a property", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/token`, `${TOKEN}\n`);
    const text = configText({
      type: "hubspot",
      token_file: `${dir}/token`,
      email: "{{ email_information.from_addr }}",
      properties: { contract_file: "{{ deal_url }}" },
    });
    const config = parseConfig(text, "test config", { env: () => undefined });
    const rendered = compileConfig(config, "test", { write: () => {} }).destinations.get("crm")!
      .destination.render(deliveryOf("new_influencer_reply"));
    const body = JSON.parse(rendered.body);
    assert.deepEqual(body["contacts/batch/upsert"].inputs[0].properties, {
      contract_file: "https://app.influencer-hero.com/deal/deal12345",
    });
    assert.ok(!JSON.stringify(rendered).includes(TOKEN));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("classifyHubspot() reads HubSpot's answers", () => {
  const now = Date.now();
  const classify = (answer: Answer) =>
    classifyHubspot(
      { status: answer.status, headers: new Headers(answer.headers), body: answer.body ?? "" },
      now,
    );
  assert.equal(classify(jsonAnswer(201, { id: "1" })).kind, "delivered");
  const conflict = classify(
    hubspotError(409, "CONFLICT", "Contact already exists. Existing ID: 1"),
  );
  assert.equal(conflict.kind, "failed");
  assert.match(
    conflict.kind === "failed" ? conflict.error : "",
    /CONFLICT: Contact already exists/,
  );
  const down = classify(jsonAnswer(503, { status: "error", message: "Service Unavailable" }));
  assert.equal(down.kind, "retry");
  const expired = classify(
    hubspotError(401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired"),
  );
  assert.equal(expired.kind, "gone");
  // A 403 that names no scope still says which ones are needed.
  const forbidden = classify(
    hubspotError(403, "MISSING_SCOPES", "This app hasn't been granted all required scopes"),
  );
  assert.match(
    forbidden.kind === "gone" ? forbidden.error : "",
    /crm\.objects\.contacts\.read, crm\.objects\.contacts\.write/,
  );
});

destinationContract({
  type: "hubspot",
  config: (base) => ({
    type: "hubspot",
    token: TOKEN,
    api_url: base,
    // Every sample event has a deal id; the contract renders them all.
    email: "{{ email_information.from_addr | default: 'influencer@example.com' }}",
    properties: { firstname: "{{ deal_info.full_name }}" },
  }),
  secrets: [TOKEN],
  json: true,
  requestsPerDelivery: 2,
  service: {
    ok: jsonAnswer(200, {
      status: "COMPLETE",
      results: [{ id: "151", properties: { email: "influencer@example.com" }, new: false }],
      startedAt: "2026-01-15T12:00:01.000Z",
      completedAt: "2026-01-15T12:00:01.000Z",
    }),
    gone: INVALID_AUTHENTICATION,
    rateLimited: { answer: rateLimited("TEN_SECONDLY_ROLLING"), waitMs: 10_000 },
    serverError: hubspotError(500, "INTERNAL_ERROR", "Internal Server Error"),
    rejected: invalidProperties([{
      isValid: false,
      message: 'Property "tiktok_handle" does not exist',
      error: "PROPERTY_DOESNT_EXIST",
      name: "tiktok_handle",
    }]),
  },
  hostile(rendered) {
    const note = JSON.parse(rendered.body).notes.properties.hs_note_body as string;
    assert.ok(note.length <= HUBSPOT_NOTE_CHARS);
    assert.doesNotMatch(note, /<script>|<b>/);
    assert.match(note, /&lt;script&gt;/);
  },
});
