// Google Sheets: a fake Google on 127.0.0.1 — an OAuth token endpoint that checks the JWT's RS256
// signature with node:crypto against the public half of a key pair made here, and its claims, and
// a Sheets API that appends rows for the tokens it issued, answering 401, 403, 404, 400 and 429
// with Google's JSON errors — and the relay's conclusions from each answer.

import assert from "node:assert/strict";
import { generateKeyPairSync, verify } from "node:crypto";
import { compileConfig } from "../src/compile.ts";
import { ConfigError, configSecrets, loadConfig, parseConfig } from "../src/config.ts";
import type { Destination } from "../src/destination.ts";
import { REDACTED, Redactor } from "../src/redact.ts";
import { destinationContract, jsonAnswer } from "./destination_contract.ts";
import { deliveryOf, type Json, sendContext } from "./destination_kit.ts";
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

const SCOPE = "https://www.googleapis.com/auth/spreadsheets";
const CLIENT_EMAIL = "hero-relay@brand-sheets.iam.gserviceaccount.com";
const SHEET_ID = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";

function newKey(): { privateKey: string; publicKey: string } {
  return generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
}

const KEY = newKey();
const KEY_ID = "3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a090";
/** A line from the middle of the private key: it must never show anywhere. */
const KEY_LINE = KEY.privateKey.split("\n")[10]!;

/** The key file Google Cloud issues for a service account, its token endpoint at `tokenUri`. */
function keyFile(tokenUri: string, changes: Record<string, unknown> = {}): string {
  return JSON.stringify(
    {
      type: "service_account",
      project_id: "brand-sheets",
      private_key_id: KEY_ID,
      private_key: KEY.privateKey,
      client_email: CLIENT_EMAIL,
      client_id: "103456789012345678901",
      auth_uri: "https://accounts.google.com/o/oauth2/auth",
      token_uri: tokenUri,
      auth_provider_x509_cert_url: "https://www.googleapis.com/oauth2/v1/certs",
      client_x509_cert_url:
        "https://www.googleapis.com/robot/v1/metadata/x509/hero-relay%40brand-sheets.iam.gserviceaccount.com",
      universe_domain: "googleapis.com",
      ...changes,
    },
    null,
    2,
  );
}

function googleError(code: number, status: string, message: string, details?: unknown[]): Answer {
  return jsonAnswer(code, { error: { code, message, status, ...(details ? { details } : {}) } });
}

const UNAUTHENTICATED = "Request had invalid authentication credentials. Expected OAuth 2 access " +
  "token, login cookie or other valid authentication credential. See " +
  "https://developers.google.com/identity/sign-in/web/devconsole-project.";

const QUOTA = googleError(
  429,
  "RESOURCE_EXHAUSTED",
  "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per " +
    "user' of service 'sheets.googleapis.com' for consumer 'project_number:123456789012'.",
  [{
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    reason: "RATE_LIMIT_EXCEEDED",
    domain: "googleapis.com",
    metadata: { service: "sheets.googleapis.com", consumer: "projects/123456789012" },
  }],
);

function oauthError(status: number, error: string, description: string): Answer {
  return jsonAnswer(status, { error, error_description: description });
}

function decodeSegment(segment: string): Json {
  return JSON.parse(new TextDecoder().decode(base64UrlBytes(segment)));
}

function base64UrlBytes(segment: string): Uint8Array {
  const base64 = segment.replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** A spreadsheet of the fake: its tabs, who it is shared with, and its rows. */
interface Sheet {
  tabs: Set<string>;
  sharedWith: Set<string>;
  rows: string[][];
}

/**
 * Google as the relay meets it: `/token` (OAuth 2.0 JWT bearer grant) and `/v4/spreadsheets`
 * (values.append). `answer` takes one request and gives Google's answer.
 */
class FakeGoogle {
  /** Public keys by key id; deleting one is revoking the key. */
  keys = new Map<string, string>([[KEY_ID, KEY.publicKey]]);
  sheets = new Map<string, Sheet>([[SHEET_ID, {
    tabs: new Set(["Commissions"]),
    sharedWith: new Set([CLIENT_EMAIL]),
    rows: [],
  }]]);
  /** Issued tokens: who they belong to and until when (ms) they are valid. */
  tokens = new Map<string, { email: string; until: number }>();
  expiresIn = 3599;
  tokenRequests = 0;
  appends: Received[] = [];
  /** Answers the next appends this way before anything else, when set. */
  sheetsDown: Answer | null = null;
  tokenDown: Answer | null = null;
  tokenUri = "";

  answer(request: Received): Answer {
    if (request.method === "POST" && request.path === "/token") return this.#token(request);
    if (request.method === "POST" && request.path.startsWith("/v4/spreadsheets/")) {
      this.appends.push(request);
      return this.#append(request);
    }
    return googleError(404, "NOT_FOUND", "Requested entity was not found.");
  }

  /** Every token issued so far stops working, as after its hour. */
  expireTokens(): void {
    for (const token of this.tokens.values()) token.until = 0;
  }

  #token(request: Received): Answer {
    this.tokenRequests += 1;
    if (this.tokenDown !== null) return this.tokenDown;
    if (request.headers.get("content-type") !== "application/x-www-form-urlencoded") {
      return oauthError(400, "invalid_request", "Invalid content type");
    }
    const form = new URLSearchParams(request.body);
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      return oauthError(400, "unsupported_grant_type", "Invalid grant_type: ");
    }
    const parts = (form.get("assertion") ?? "").split(".");
    if (parts.length !== 3) return oauthError(400, "invalid_grant", "Invalid JWT");
    const [header, claims] = [decodeSegment(parts[0]!), decodeSegment(parts[1]!)];
    if (header.alg !== "RS256" || header.typ !== "JWT") {
      return oauthError(400, "invalid_grant", "Invalid JWT");
    }
    const publicKey = this.keys.get(header.kid);
    const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
    if (
      publicKey === undefined ||
      !verify("RSA-SHA256", signed, publicKey, base64UrlBytes(parts[2]!))
    ) {
      return oauthError(400, "invalid_grant", "Invalid JWT Signature.");
    }
    if (claims.iss !== CLIENT_EMAIL) {
      return oauthError(401, "invalid_client", "The OAuth client was not found.");
    }
    if (claims.aud !== this.tokenUri) {
      return oauthError(
        400,
        "invalid_grant",
        `Invalid JWT: Failed audience check. The right audience is ${this.tokenUri}`,
      );
    }
    if (claims.scope !== SCOPE) {
      return oauthError(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.");
    }
    const now = Date.now() / 1000;
    if (!(claims.exp - claims.iat <= 3600 && claims.exp > now && claims.iat <= now + 300)) {
      return oauthError(
        400,
        "invalid_grant",
        "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable " +
          "timeframe. Check your iat and exp values in the JWT claim.",
      );
    }
    const token = `ya29.c.fake-${this.tokens.size + 1}-${crypto.randomUUID()}`;
    this.tokens.set(token, { email: claims.iss, until: Date.now() + this.expiresIn * 1000 });
    return jsonAnswer(200, {
      access_token: token,
      expires_in: this.expiresIn,
      token_type: "Bearer",
    });
  }

  #append(request: Received): Answer {
    const bearer = /^Bearer (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
    const token = bearer === undefined ? undefined : this.tokens.get(bearer);
    if (token === undefined || token.until <= Date.now()) {
      const details = token === undefined ? undefined : [{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        reason: "ACCESS_TOKEN_EXPIRED",
        domain: "googleapis.com",
        metadata: { service: "sheets.googleapis.com" },
      }];
      return googleError(401, "UNAUTHENTICATED", UNAUTHENTICATED, details);
    }
    if (this.sheetsDown !== null) return this.sheetsDown;
    const url = new URL(request.path, "http://sheets.invalid");
    const match = /^\/v4\/spreadsheets\/([^/]+)\/values\/([^/]+):append$/.exec(url.pathname);
    if (match === null) return googleError(404, "NOT_FOUND", "Requested entity was not found.");
    const sheet = this.sheets.get(decodeURIComponent(match[1]!));
    if (sheet === undefined) {
      return googleError(404, "NOT_FOUND", "Requested entity was not found.");
    }
    if (!sheet.sharedWith.has(token.email)) {
      return googleError(403, "PERMISSION_DENIED", "The caller does not have permission");
    }
    const input = url.searchParams.get("valueInputOption");
    if (input !== "USER_ENTERED" && input !== "RAW") {
      return googleError(
        400,
        "INVALID_ARGUMENT",
        "'valueInputOption' is required but not specified",
      );
    }
    const range = decodeURIComponent(match[2]!);
    const tab = range.split("!")[0]!.replace(/^'(.*)'$/, "$1");
    if (!sheet.tabs.has(tab)) {
      return googleError(400, "INVALID_ARGUMENT", `Unable to parse range: ${range}`);
    }
    const body = JSON.parse(request.body);
    if (body.range !== range) {
      return googleError(
        400,
        "INVALID_ARGUMENT",
        `Requested writing within range [${range}], but tried writing to [${body.range}]`,
      );
    }
    if (body.majorDimension !== "ROWS" || !Array.isArray(body.values)) {
      return googleError(400, "INVALID_ARGUMENT", "Invalid values[0]");
    }
    const first = sheet.rows.length + 1;
    sheet.rows.push(...body.values);
    const width = Math.max(...body.values.map((row: unknown[]) => row.length));
    return jsonAnswer(200, {
      spreadsheetId: SHEET_ID,
      tableRange: `${tab}!A1:F${first - 1}`,
      updates: {
        spreadsheetId: SHEET_ID,
        updatedRange: `${tab}!A${first}:F${sheet.rows.length}`,
        updatedRows: body.values.length,
        updatedColumns: width,
        updatedCells: body.values.length * width,
      },
    });
  }
}

/** A fake Google on its own server, with its key file in a temp folder. */
async function startGoogle(): Promise<
  { google: FakeGoogle; server: FakeServer; dir: string; keyPath: string; close(): Promise<void> }
> {
  const google = new FakeGoogle();
  const server = new FakeServer((request) => google.answer(request));
  google.tokenUri = `${server.url}/token`;
  const dir = await Deno.makeTempDir();
  const keyPath = `${dir}/brand-sheets-3f1c2a9b8e7d.json`;
  await Deno.writeTextFile(keyPath, keyFile(google.tokenUri));
  return {
    google,
    server,
    dir,
    keyPath,
    async close() {
      await server.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const COLUMNS = [
  "{{ event.id }}",
  "{{ event.received_at | date: '%Y-%m-%d %H:%M', 'UTC' }}",
  "{{ deal_info.full_name }}",
  "{{ commission_information.old_commission_perc }}",
  "{{ commission_information.new_commission_perc }}",
  "{{ message.title }}",
];

function sheetConfig(keyPath: string, apiUrl: string, changes: Record<string, unknown> = {}) {
  return {
    type: "google_sheets",
    spreadsheet_id: SHEET_ID,
    range: "Commissions",
    columns: COLUMNS,
    credentials_file: keyPath,
    api_url: apiUrl,
    ...changes,
  };
}

function configText(destination: Record<string, unknown>): string {
  return JSON.stringify({
    influencer_hero: { signing_secrets: [SECRET] },
    destinations: { sheet: destination },
    routes: [{ name: "commissions", events: ["update_commission"], to: ["sheet"] }],
  });
}

function build(destination: Record<string, unknown>): Destination {
  const config = parseConfig(configText(destination), "test config", { env: () => undefined });
  return compileConfig(config, "test config", { write: () => {} }).destinations.get("sheet")!
    .destination;
}

Deno.test("a row is appended per event, each cell a template, as the service account", async () => {
  const fake = await startGoogle();
  try {
    const destination = build(sheetConfig(fake.keyPath, fake.server.url));
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    assert.equal(fake.google.tokenRequests, 1);
    const [append] = fake.google.appends;
    assert.equal(
      append!.path,
      `/v4/spreadsheets/${SHEET_ID}/values/Commissions:append` +
        "?valueInputOption=USER_ENTERED&insertDataOption=INSERT_ROWS",
    );
    assert.match(append!.headers.get("authorization")!, /^Bearer ya29\.c\.fake-1-/);
    assert.equal(append!.headers.get("content-type"), "application/json");
    const body = JSON.parse(append!.body);
    assert.equal(body.range, "Commissions");
    assert.equal(body.majorDimension, "ROWS");
    const [row] = fake.google.sheets.get(SHEET_ID)!.rows;
    assert.deepEqual(row!.slice(0, 5), [
      "evt_TEST",
      "2026-01-15 12:00",
      "Dwayne Johnson",
      "10",
      "15",
    ]);
    assert.match(row![5]!, /Dwayne Johnson/);
  } finally {
    await fake.close();
  }
});

Deno.test("a range with a sheet name and RAW input are sent URL-encoded as Google expects", async () => {
  const fake = await startGoogle();
  fake.google.sheets.get(SHEET_ID)!.tabs.add("Q1 Commissions");
  try {
    const destination = build(sheetConfig(fake.keyPath, fake.server.url, {
      range: "'Q1 Commissions'!A:F",
      value_input: "RAW",
      columns: ["{{ event.id }}", "=1+1"],
    }));
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    assert.equal(
      fake.google.appends[0]!.path,
      `/v4/spreadsheets/${SHEET_ID}/values/'Q1%20Commissions'!A%3AF:append` +
        "?valueInputOption=RAW&insertDataOption=INSERT_ROWS",
    );
    assert.deepEqual(fake.google.sheets.get(SHEET_ID)!.rows, [["evt_TEST", "=1+1"]]);
  } finally {
    await fake.close();
  }
});

Deno.test("one access token serves many appends, and deliveries at once share its request", async () => {
  const fake = await startGoogle();
  try {
    const destination = build(sheetConfig(fake.keyPath, fake.server.url));
    const together = await Promise.all(
      [1, 2, 3].map(() => destination.send(deliveryOf("update_commission"), sendContext())),
    );
    for (let i = 0; i < 2; i++) {
      together.push(await destination.send(deliveryOf("update_commission"), sendContext()));
    }
    assert.deepEqual(together.map((o) => o.kind), Array(5).fill("delivered"));
    assert.equal(fake.google.tokenRequests, 1);
    assert.equal(fake.google.sheets.get(SHEET_ID)!.rows.length, 5);
  } finally {
    await fake.close();
  }
});

Deno.test("a token near its expiry is renewed before it is used", async () => {
  const fake = await startGoogle();
  // A 30-second token is kept for half its life; the clock then moves 20 s on.
  fake.google.expiresIn = 30;
  let offset = 0;
  const context = sendContext(() => Date.now() + offset);
  try {
    const destination = build(sheetConfig(fake.keyPath, fake.server.url));
    assert.equal(
      (await destination.send(deliveryOf("update_commission"), context)).kind,
      "delivered",
    );
    assert.equal(
      (await destination.send(deliveryOf("update_commission"), context)).kind,
      "delivered",
    );
    assert.equal(fake.google.tokenRequests, 1);
    offset = 20_000;
    assert.equal(
      (await destination.send(deliveryOf("update_commission"), context)).kind,
      "delivered",
    );
    assert.equal(fake.google.tokenRequests, 2);
  } finally {
    await fake.close();
  }
});

Deno.test("a token Sheets refuses as expired is replaced, and the append retried once", async () => {
  const fake = await startGoogle();
  try {
    const destination = build(sheetConfig(fake.keyPath, fake.server.url));
    assert.equal(
      (await destination.send(deliveryOf("update_commission"), sendContext())).kind,
      "delivered",
    );
    fake.google.expireTokens();
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
    assert.equal(fake.google.tokenRequests, 2);
    const auth = fake.google.appends.map((a) => a.headers.get("authorization"));
    assert.equal(auth.length, 3);
    assert.equal(auth[1], auth[0], "the second append tried the kept token first");
    assert.notEqual(auth[2], auth[1], "and the retry a new one");
    assert.equal(fake.google.sheets.get(SHEET_ID)!.rows.length, 2);
  } finally {
    await fake.close();
  }
});

Deno.test("a fresh token refused too is gone, after exactly one retry", async () => {
  const fake = await startGoogle();
  try {
    const destination = build(sheetConfig(fake.keyPath, fake.server.url));
    // Every token is dead on arrival, as when the account is disabled.
    fake.google.expiresIn = 0;
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(outcome.kind, "gone", JSON.stringify(outcome));
    assert.equal(outcome.httpStatus, 401);
    assert.match(outcome.error, /HTTP 401 UNAUTHENTICATED: Request had invalid authentication/);
    assert.equal(fake.google.appends.length, 2);
  } finally {
    await fake.close();
  }
});

Deno.test("a deleted or revoked key (invalid_grant) is gone, with Google's reason", async () => {
  const fake = await startGoogle();
  try {
    const destination = build(sheetConfig(fake.keyPath, fake.server.url));
    fake.google.keys.clear();
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(outcome.kind, "gone", JSON.stringify(outcome));
    assert.equal(outcome.httpStatus, 400);
    assert.equal(
      outcome.error,
      `Google refused the service account key (${CLIENT_EMAIL}): invalid_grant: Invalid JWT ` +
        "Signature.",
    );
    assert.equal(fake.google.appends.length, 0);
  } finally {
    await fake.close();
  }
});

Deno.test("a private_key that is no RSA key is gone before any request", async () => {
  const fake = await startGoogle();
  const { privateKey } = generateKeyPairSync("ec", {
    namedCurve: "P-256",
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  try {
    await Deno.writeTextFile(
      fake.keyPath,
      keyFile(fake.google.tokenUri, { private_key: privateKey }),
    );
    const destination = build(sheetConfig(fake.keyPath, fake.server.url));
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(outcome, {
      kind: "gone",
      httpStatus: null,
      error: "the service account's private_key is not a PKCS#8 RSA key; create a new JSON key " +
        "for the service account",
    });
    assert.equal(fake.google.tokenRequests, 0);
  } finally {
    await fake.close();
  }
});

Deno.test("invalid_client is gone; a token endpoint that is down or unreachable is retried", async () => {
  const fake = await startGoogle();
  try {
    const destination = build(sheetConfig(fake.keyPath, fake.server.url));
    fake.google.tokenDown = oauthError(401, "invalid_client", "The OAuth client was not found.");
    const refused = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(refused.kind, "gone", JSON.stringify(refused));
    assert.match(refused.error, /invalid_client: The OAuth client was not found\./);
    fake.google.tokenDown = jsonAnswer(503, { error: "backend_error" }, { "retry-after": "7" });
    const down = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(down.kind, "retry", JSON.stringify(down));
    assert.equal(down.httpStatus, 503);
    assert.equal(down.retryAfterMs, 7000);
    assert.match(down.error, /^token request: HTTP 503/);
    fake.google.tokenDown = null;
    assert.equal(
      (await destination.send(deliveryOf("update_commission"), sendContext())).kind,
      "delivered",
    );
  } finally {
    await fake.close();
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = listener.addr.port;
  listener.close();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/key.json`, keyFile(`http://127.0.0.1:${closedPort}/token`));
    const destination = build(sheetConfig(`${dir}/key.json`, "https://sheets.example"));
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(outcome, {
      kind: "retry",
      httpStatus: null,
      error: "token request: connection refused",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a sheet not shared with the service account is gone, with the e-mail to share it with", async () => {
  const fake = await startGoogle();
  try {
    fake.google.sheets.get(SHEET_ID)!.sharedWith.clear();
    const destination = build(sheetConfig(fake.keyPath, fake.server.url));
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(outcome, {
      kind: "gone",
      httpStatus: 403,
      error: "HTTP 403 PERMISSION_DENIED: The caller does not have permission; share the " +
        `spreadsheet with ${CLIENT_EMAIL} as an editor`,
    });
    fake.google.sheetsDown = googleError(
      403,
      "PERMISSION_DENIED",
      "Google Sheets API has not been used in project 123456789012 before or it is disabled.",
      [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "SERVICE_DISABLED" }],
    );
    const disabled = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(disabled.kind, "gone");
    assert.match(disabled.error, /has not been used in project .*; enable the Google Sheets API/);
  } finally {
    await fake.close();
  }
});

Deno.test("an unknown spreadsheet id is gone; a range that does not parse fails the delivery", async () => {
  const fake = await startGoogle();
  try {
    const unknown = build(sheetConfig(fake.keyPath, fake.server.url, { spreadsheet_id: "1nope" }));
    const gone = await unknown.send(deliveryOf("update_commission"), sendContext());
    assert.equal(gone.kind, "gone", JSON.stringify(gone));
    assert.equal(gone.httpStatus, 404);
    assert.match(
      gone.error,
      /^HTTP 404 NOT_FOUND: Requested entity was not found\.; check spreadsheet_id/,
    );
    const badRange = build(sheetConfig(fake.keyPath, fake.server.url, { range: "Sheet9!A:F" }));
    const failed = await badRange.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(failed, {
      kind: "failed",
      httpStatus: 400,
      error: "HTTP 400 INVALID_ARGUMENT: Unable to parse range: Sheet9!A:F",
    });
    assert.equal(fake.google.sheets.get(SHEET_ID)!.rows.length, 0);
  } finally {
    await fake.close();
  }
});

Deno.test("the write quota (429 RESOURCE_EXHAUSTED) is retried, after Retry-After when given", async () => {
  const fake = await startGoogle();
  try {
    const destination = build(sheetConfig(fake.keyPath, fake.server.url));
    fake.google.sheetsDown = QUOTA;
    const limited = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(limited.kind, "retry");
    assert.equal(limited.httpStatus, 429);
    assert.equal(limited.retryAfterMs, undefined);
    assert.match(limited.error, /^HTTP 429 RESOURCE_EXHAUSTED: Quota exceeded for quota metric/);
    fake.google.sheetsDown = { ...QUOTA, headers: { ...QUOTA.headers, "retry-after": "30" } };
    const told = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.equal(told.kind, "retry");
    assert.equal(told.retryAfterMs, 30_000);
  } finally {
    await fake.close();
  }
});

Deno.test("the preview shows the append request, the token and the key masked", async () => {
  const fake = await startGoogle();
  try {
    const destination = build(sheetConfig(fake.keyPath, fake.server.url));
    await destination.send(deliveryOf("update_commission"), sendContext());
    const rendered = destination.render(deliveryOf("update_commission"));
    assert.equal(rendered.method, "POST");
    assert.equal(
      rendered.url,
      `${fake.server.url}/v4/spreadsheets/${SHEET_ID}/values/Commissions:append` +
        "?valueInputOption=USER_ENTERED&insertDataOption=INSERT_ROWS",
    );
    assert.equal(rendered.headers["authorization"], "***");
    assert.equal(JSON.parse(rendered.body).values[0][0], "evt_TEST");
    const shown = JSON.stringify(rendered);
    const token = fake.google.tokens.keys().next().value!;
    for (const secret of [token, KEY_LINE, KEY_ID]) assert.ok(!shown.includes(secret), secret);
  } finally {
    await fake.close();
  }
});

Deno.test("a missing or unusable key file is a config problem at its path, never quoting the key", async () => {
  const dir = await Deno.makeTempDir();
  const problems = async (credentials: string | null): Promise<string> => {
    const destination = sheetConfig("key.json", "https://sheets.example");
    if (credentials !== null) await Deno.writeTextFile(`${dir}/key.json`, credentials);
    await Deno.writeTextFile(`${dir}/relay.json`, configText(destination));
    try {
      loadConfig(`${dir}/relay.json`, { env: () => undefined });
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.message;
    }
    return "";
  };
  try {
    const missing = await problems(null);
    assert.match(
      missing,
      /destinations\.sheet\.credentials_file: cannot read "key\.json": NotFound/,
    );
    assert.match(missing, /destinations\.sheet\.credentials: the service account key is empty/);
    const half = keyFile("https://oauth2.googleapis.com/token").slice(0, 900);
    const cases: Array<[string, RegExp]> = [
      [half, /destinations\.sheet\.credentials: the service account key is not JSON; expected/],
      [
        keyFile("https://oauth2.googleapis.com/token", { private_key: undefined }),
        /destinations\.sheet\.credentials: the service account key has no "private_key"/,
      ],
      [
        keyFile("https://oauth2.googleapis.com/token", { client_email: "" }),
        /the service account key has no "client_email"/,
      ],
      [
        keyFile("https://oauth2.googleapis.com/token", { token_uri: undefined }),
        /the service account key has no "token_uri"/,
      ],
      [
        keyFile("https://oauth2.googleapis.com/token", { type: "authorized_user" }),
        /the service account key has "type" "authorized_user", not "service_account"/,
      ],
      [
        keyFile("https://oauth2.googleapis.com/token", {
          private_key: KEY.privateKey.replace("PRIVATE KEY", "RSA PRIVATE KEY"),
        }),
        /has a "private_key" that is not a PEM "BEGIN PRIVATE KEY" block/,
      ],
    ];
    for (const [text, expected] of cases) {
      const message = await problems(text);
      assert.match(message, expected);
      assert.ok(!message.includes(KEY_LINE), message);
      assert.ok(!message.includes("MII"), message);
    }
    // The key file Google issues, with its default token_uri, loads.
    assert.equal(await problems(keyFile("https://oauth2.googleapis.com/token")), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a column template that does not compile is named by its index", () => {
  assert.throws(
    () =>
      build(sheetConfig("", "https://sheets.example", {
        // A disabled destination may lack its key; its templates are still checked.
        enabled: false,
        credentials_file: undefined,
        credentials: "",
        columns: ["{{ event.id }}", "{% if %}"],
      })),
    /destinations\.sheet\.columns\[1\]: /,
  );
});

Deno.test("the key file's content can come from an environment variable instead", async () => {
  const fake = await startGoogle();
  try {
    const text = configText(sheetConfig("", fake.server.url, {
      credentials_file: undefined,
      credentials: "${GOOGLE_SERVICE_ACCOUNT_KEY}",
    }));
    const key = keyFile(fake.google.tokenUri);
    const config = parseConfig(text, "t", {
      env: (name) => name === "GOOGLE_SERVICE_ACCOUNT_KEY" ? key : undefined,
    });
    assert.ok(configSecrets(config).some((s) => s.value.includes(KEY_LINE)));
    const destination = compileConfig(config, "t", { write: () => {} }).destinations.get("sheet")!
      .destination;
    const outcome = await destination.send(deliveryOf("update_commission"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: 200 });
  } finally {
    await fake.close();
  }
});

Deno.test("the private key reaches the redactor, in every form it could show in", async () => {
  const fake = await startGoogle();
  try {
    const config = parseConfig(configText(sheetConfig(fake.keyPath, fake.server.url)), "t", {
      env: () => undefined,
    });
    const redactor = new Redactor();
    redactor.set(configSecrets(config));
    const body = KEY.privateKey.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
    for (
      const text of [
        KEY.privateKey,
        JSON.stringify({ key: KEY.privateKey }),
        body,
        keyFile(fake.google.tokenUri),
      ]
    ) {
      const out = redactor.redact(`before ${text} after`);
      assert.ok(out.includes(REDACTED), out.slice(0, 80));
      assert.ok(!out.includes(KEY_LINE), out.slice(0, 80));
    }
    // The account's e-mail is no secret: it names whom to share the sheet with.
    assert.equal(redactor.redact(CLIENT_EMAIL), CLIENT_EMAIL);
  } finally {
    await fake.close();
  }
});

Deno.test("through a real relay: rows appended, a revoked key disables it, no key in the logs", async () => {
  const fake = await startGoogle();
  const dir = await Deno.makeTempDir();
  const { relay, logs } = await testRelay(testConfig(dir, {
    destinations: { sheet: sheetConfig(fake.keyPath, fake.server.url) },
    routes: [{ name: "commissions", events: ["update_commission"], to: ["sheet"] }],
  }));
  try {
    const accepted = await post(relay.url, "/hooks", freshSample("update_commission"));
    assert.equal(accepted.status, 200);
    await eventually(() => logs.find("delivered").length === 1, 10_000, "the delivery");
    assert.equal(fake.google.sheets.get(SHEET_ID)!.rows.length, 1);
    assert.match(fake.google.sheets.get(SHEET_ID)!.rows[0]![0]!, /^evt_/);
    fake.google.keys.clear();
    fake.google.expireTokens();
    await post(relay.url, "/hooks", freshSample("update_commission"));
    await eventually(
      () => logs.lines.some((line) => line.includes("invalid_grant")),
      10_000,
      "the refused key",
    );
    const text = logs.lines.join("\n");
    const tokens = [...fake.google.tokens.keys()];
    for (const secret of [KEY_LINE, ...tokens]) {
      assert.ok(!text.includes(secret), `the logs show "${secret.slice(0, 20)}…"`);
    }
  } finally {
    await relay.stop();
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});

// The contract's fake service answers every request alike, so the token comes from a token
// endpoint of its own, for the whole file (unref'd: it keeps no test and no process waiting).
const contractGoogle = new FakeGoogle();
const contractServer = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  async (request) => {
    const url = new URL(request.url);
    const answer = contractGoogle.answer({
      method: request.method,
      path: url.pathname + url.search,
      headers: request.headers,
      body: await request.text(),
    });
    return new Response(answer.body, { status: answer.status, headers: answer.headers ?? {} });
  },
);
contractServer.unref();
contractGoogle.tokenUri = `http://127.0.0.1:${contractServer.addr.port}/token`;
const contractDir = Deno.makeTempDirSync();
const contractKey = `${contractDir}/key.json`;
Deno.writeTextFileSync(contractKey, keyFile(contractGoogle.tokenUri));
globalThis.addEventListener("unload", () => Deno.removeSync(contractDir, { recursive: true }));

destinationContract({
  type: "google_sheets",
  config: (base) => sheetConfig(contractKey, base),
  secrets: [KEY_LINE],
  json: true,
  service: {
    ok: jsonAnswer(200, {
      spreadsheetId: SHEET_ID,
      tableRange: "Commissions!A1:F4",
      updates: {
        spreadsheetId: SHEET_ID,
        updatedRange: "Commissions!A5:F5",
        updatedRows: 1,
        updatedColumns: 6,
        updatedCells: 6,
      },
    }),
    gone: googleError(403, "PERMISSION_DENIED", "The caller does not have permission"),
    // Sheets states no wait on its quota errors: the retry schedule decides.
    rateLimited: { answer: QUOTA, waitMs: null },
    serverError: googleError(503, "UNAVAILABLE", "The service is currently unavailable."),
    rejected: googleError(400, "INVALID_ARGUMENT", "Unable to parse range: Sheet9!A:F"),
  },
  hostile(rendered) {
    for (const cell of JSON.parse(rendered.body).values[0]) assert.ok(cell.length <= 50_000);
  },
});
