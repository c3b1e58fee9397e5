// E-mail: end to end over SMTP against a real SMTP server in the test (npm smtp-server, with
// STARTTLS and AUTH, and without TLS), reading the MIME message that arrived; and the four
// e-mail APIs against fakes on 127.0.0.1 that validate and answer as SendGrid, Mailgun, Postmark
// and Resend do.

import assert from "node:assert/strict";
import { destinationContract, textAnswer } from "./destination_contract.ts";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { EmailDestination, type EmailOptions } from "../src/destination_email.ts";
import {
  deliveryOf,
  deliveryWith,
  hostileMessage,
  type Json,
  sendContext,
} from "./destination_kit.ts";
import { type Answer, FakeServer, type Received } from "./helpers.ts";

// ── A real SMTP server ─────────────────────────────────────────────────────────────────────

interface Arrived {
  from: string;
  to: string[];
  user: string | undefined;
  secure: boolean;
  raw: string;
}

async function startSmtp(options: {
  starttls?: boolean;
  rcpt?: (address: string) => { code: number; message: string } | null;
} = {}): Promise<{ port: number; arrived: Arrived[]; close: () => Promise<void> }> {
  const arrived: Arrived[] = [];
  const config: SMTPServerOptions = {
    logger: false,
    authOptional: false,
    allowInsecureAuth: !options.starttls,
    hideSTARTTLS: !options.starttls,
    onAuth(auth, _session, callback) {
      if (auth.username === "relay" && auth.password === "pa55-w0rd") {
        callback(null, { user: auth.username });
      } else {
        callback(Object.assign(new Error("Authentication credentials invalid"), {
          responseCode: 535,
        }));
      }
    },
    onRcptTo(address, _session, callback) {
      const refusal = options.rcpt?.(address.address) ?? null;
      if (refusal === null) return callback();
      callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
    },
    onData(stream, session, callback) {
      const chunks: Uint8Array[] = [];
      stream.on("data", (chunk: Uint8Array) => chunks.push(chunk));
      stream.on("end", () => {
        const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let offset = 0;
        for (const chunk of chunks) {
          all.set(chunk, offset);
          offset += chunk.length;
        }
        arrived.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user as string | undefined,
          secure: session.secure,
          raw: new TextDecoder().decode(all),
        });
        callback();
      });
    },
  };
  const server = new SMTPServer(config);
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.server.address() as { port: number }).port;
  return {
    port,
    arrived,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A parsed MIME message: unfolded headers (lower-case names) and decoded leaf parts. */
interface Mime {
  headers: Map<string, string>;
  parts: Array<{ type: string; body: string }>;
}

function parseMime(raw: string): Mime {
  const [head, ...rest] = raw.split("\r\n\r\n");
  const body = rest.join("\r\n\r\n");
  const headers = new Map<string, string>();
  for (const line of head!.replace(/\r\n[ \t]+/g, " ").split("\r\n")) {
    const colon = line.indexOf(":");
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  const type = headers.get("content-type") ?? "text/plain";
  const boundary = /boundary="?([^";]+)"?/.exec(type)?.[1];
  if (!type.startsWith("multipart/") || boundary === undefined) {
    return { headers, parts: [{ type: type.split(";")[0]!, body: decodeBody(headers, body) }] };
  }
  const parts = body.split(`--${boundary}`).slice(1, -1).flatMap((part) =>
    parseMime(part.replace(/^\r\n/, "")).parts
  );
  return { headers, parts };
}

function decodeBody(headers: Map<string, string>, body: string): string {
  const encoding = (headers.get("content-transfer-encoding") ?? "7bit").toLowerCase();
  let bytes: Uint8Array;
  if (encoding === "base64") {
    bytes = Uint8Array.from(atob(body.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  } else if (encoding === "quoted-printable") {
    const text = body.replace(/=\r\n/g, "");
    const out: number[] = [];
    for (let i = 0; i < text.length; i++) {
      if (text[i] === "=" && /^[0-9A-F]{2}$/.test(text.slice(i + 1, i + 3))) {
        out.push(parseInt(text.slice(i + 1, i + 3), 16));
        i += 2;
      } else {
        out.push(...new TextEncoder().encode(text[i]!));
      }
    }
    bytes = new Uint8Array(out);
  } else {
    bytes = new TextEncoder().encode(body);
  }
  return new TextDecoder().decode(bytes).replace(/\r\n/g, "\n").trimEnd();
}

/** Decodes RFC 2047 encoded-words, as mail clients show a header. */
function decodeHeader(value: string): string {
  return value.replace(/\s*=\?utf-8\?([bq])\?([^?]*)\?=\s*/gi, (_, mode: string, text: string) => {
    if (mode.toLowerCase() === "b") {
      return new TextDecoder().decode(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)));
    }
    const bytes: number[] = [];
    const q = text.replace(/_/g, " ");
    for (let i = 0; i < q.length; i++) {
      if (q[i] === "=") {
        bytes.push(parseInt(q.slice(i + 1, i + 3), 16));
        i += 2;
      } else bytes.push(q.charCodeAt(i));
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  });
}

/** An SMTP e-mail destination; `extra` entries set to undefined are left out. */
function smtpEmail(
  url: string,
  extra: { [K in keyof EmailOptions]?: EmailOptions[K] | undefined } = {},
): EmailDestination {
  const options: Record<string, unknown> = {
    transport: { smtpUrl: url },
    from: "Hero Relay <relay@brand.example>",
    to: ["finance@brand.example"],
    cc: ["boss@brand.example"],
    subject: (request: { payload: Record<string, Json>; eventType: string }) =>
      `💸 Payout for ${request.payload["deal_info"]?.full_name} (${request.eventType})`,
    ...extra,
  };
  for (const [key, value] of Object.entries(options)) if (value === undefined) delete options[key];
  return new EmailDestination("mail", options as unknown as EmailOptions);
}

Deno.test("e-mail over SMTP with STARTTLS and AUTH arrives as text + HTML with the rendered subject", async () => {
  const smtp = await startSmtp({ starttls: true });
  try {
    const url = `smtp://relay:pa55-w0rd@127.0.0.1:${smtp.port}/` +
      "?requireTLS=true&tls.rejectUnauthorized=false";
    const outcome = await smtpEmail(url).send(deliveryOf("new_payout_request"), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: null });
    assert.equal(smtp.arrived.length, 1);
    const mail = smtp.arrived[0]!;
    assert.equal(mail.secure, true, "the session was upgraded with STARTTLS");
    assert.equal(mail.user, "relay");
    assert.equal(mail.from, "relay@brand.example");
    assert.deepEqual(mail.to, ["finance@brand.example", "boss@brand.example"]);
    const mime = parseMime(mail.raw);
    assert.equal(mime.headers.get("from"), "Hero Relay <relay@brand.example>");
    assert.equal(mime.headers.get("to"), "finance@brand.example");
    assert.equal(mime.headers.get("cc"), "boss@brand.example");
    assert.equal(
      decodeHeader(mime.headers.get("subject")!),
      "💸 Payout for Dwayne Johnson (new_payout_request)",
    );
    assert.equal(mime.headers.get("message-id"), "<dlv_01TESTDELIVERY@hero-relay>");
    assert.equal(mime.headers.get("mime-version"), "1.0");
    assert.match(mime.headers.get("content-type")!, /^multipart\/alternative;/);
    assert.deepEqual(mime.parts.map((p) => p.type), ["text/plain", "text/html"]);
    const [text, html] = mime.parts;
    assert.match(text!.body, /^Payout requested by Dwayne Johnson: \$1,500\.00/);
    assert.match(text!.body, /Amount: \$1,500\.00/);
    assert.match(html!.body, /<h2[^>]*>Payout requested by Dwayne Johnson: \$1,500\.00<\/h2>/);
    assert.match(html!.body, /<a href="https:\/\/instagram\.com\/therock"/);
  } finally {
    await smtp.close();
  }
});

Deno.test("e-mail over plain SMTP (STARTTLS hidden) escapes hostile text in the HTML part", async () => {
  const smtp = await startSmtp();
  try {
    const url = `smtp://relay:pa55-w0rd@127.0.0.1:${smtp.port}`;
    const destination = smtpEmail(url, { subject: undefined });
    const outcome = await destination.send(deliveryWith(hostileMessage()), sendContext());
    assert.deepEqual(outcome, { kind: "delivered", httpStatus: null });
    const mail = smtp.arrived[0]!;
    assert.equal(mail.secure, false);
    const mime = parseMime(mail.raw);
    // The subject is the title on one line, cut to 250 characters.
    const subject = decodeHeader(mime.headers.get("subject")!);
    assert.ok(Array.from(subject).length <= 250);
    assert.match(subject, /^<!channel> <!here>/);
    const html = mime.parts.find((p) => p.type === "text/html")!.body;
    assert.doesNotMatch(html, /<script>|<b>bold/);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(html, /Tom &amp; Jerry &amp;amp;/);
    const text = mime.parts.find((p) => p.type === "text/plain")!.body;
    assert.match(text, /<script>alert\(1\)<\/script>/, "plain text is shown as it is");
  } finally {
    await smtp.close();
  }
});

Deno.test("a body template replaces the HTML part and the text part is derived from it", async () => {
  const smtp = await startSmtp();
  try {
    const destination = smtpEmail(`smtp://relay:pa55-w0rd@127.0.0.1:${smtp.port}`, {
      body: () => "<p>Hello <b>finance</b> &amp; team</p><p>Second</p>",
    });
    await destination.send(deliveryOf("new_payout_request"), sendContext());
    const mime = parseMime(smtp.arrived[0]!.raw);
    assert.equal(mime.parts[0]!.body, "Hello finance & team\nSecond");
    assert.equal(mime.parts[1]!.body, "<p>Hello <b>finance</b> &amp; team</p><p>Second</p>");
  } finally {
    await smtp.close();
  }
});

Deno.test("an SMTP 5xx rejection is failed, a 4xx is retried, a refused login is gone", async () => {
  const smtp = await startSmtp({
    rcpt: (address) =>
      address.startsWith("nobody@")
        ? { code: 550, message: "5.1.1 Mailbox unavailable" }
        : address.startsWith("later@")
        ? { code: 451, message: "4.7.1 Greylisted, try again later" }
        : null,
  });
  try {
    const url = `smtp://relay:pa55-w0rd@127.0.0.1:${smtp.port}`;
    const delivery = deliveryOf("new_payout_request");
    const rejected = await smtpEmail(url, { to: ["nobody@brand.example"], cc: [] })
      .send(delivery, sendContext());
    assert.equal(rejected.kind, "failed");
    assert.match((rejected as { error: string }).error, /^SMTP 550 .*Mailbox unavailable/);
    const deferred = await smtpEmail(url, { to: ["later@brand.example"], cc: [] })
      .send(delivery, sendContext());
    assert.equal(deferred.kind, "retry");
    assert.match((deferred as { error: string }).error, /^SMTP 451 /);
    const wrongPassword = `smtp://relay:nope@127.0.0.1:${smtp.port}`;
    const refused = await smtpEmail(wrongPassword).send(delivery, sendContext());
    assert.equal(refused.kind, "gone");
    assert.match((refused as { error: string }).error, /535/);
    for (const outcome of [rejected, deferred, refused]) {
      assert.doesNotMatch(JSON.stringify(outcome), /pa55-w0rd|nope/);
    }
    assert.equal(smtp.arrived.length, 0);
  } finally {
    await smtp.close();
  }
});

Deno.test("a refused SMTP connection is retried", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const outcome = await smtpEmail(`smtp://relay:pa55-w0rd@127.0.0.1:${port}`)
    .send(deliveryOf("product_sent"), sendContext());
  assert.equal(outcome.kind, "retry");
  assert.doesNotMatch(JSON.stringify(outcome), /pa55-w0rd/);
});

Deno.test("render() shows the e-mail over SMTP without the credentials", () => {
  const rendered = smtpEmail("smtps://relay:pa55-w0rd@smtp.brand.example:465")
    .render(deliveryOf("new_payout_request"));
  assert.equal(rendered.method, "SMTP");
  assert.equal(rendered.url, "smtps://smtp.brand.example:465");
  assert.equal(rendered.headers["subject"], "💸 Payout for Dwayne Johnson (new_payout_request)");
  assert.doesNotMatch(JSON.stringify(rendered), /pa55-w0rd/);
});

// ── E-mail APIs ────────────────────────────────────────────────────────────────────────────

function jsonAnswer(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  return {
    status,
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  };
}

/** SendGrid, Mailgun, Postmark and Resend behind one fake, each by its own path and rules. */
function fakeEmailApis(): FakeServer & { idempotency: Map<string, { body: string; id: string }> } {
  const idempotency = new Map<string, { body: string; id: string }>();
  const server = new FakeServer((request: Received) => {
    const auth = request.headers.get("authorization") ?? "";
    const path = new URL(request.path, "http://x").pathname;
    if (path === "/v3/mail/send") {
      if (auth !== "Bearer SG.key") {
        return jsonAnswer(401, {
          errors: [{
            message: "The provided authorization grant is invalid, expired, or revoked",
            field: null,
            help: null,
          }],
        });
      }
      const body = JSON.parse(request.body);
      if (body.from?.email === "limited@brand.example") {
        return jsonAnswer(429, { errors: [{ field: null, message: "too many requests" }] }, {
          "x-ratelimit-limit": "600",
          "x-ratelimit-remaining": "0",
          "x-ratelimit-reset": "1700000060",
        });
      }
      const errors = [];
      if (!body.from?.email) errors.push({ field: "from.email", message: "The from is required." });
      if (!body.personalizations?.[0]?.to?.length) {
        errors.push({ field: "personalizations.0.to", message: "The to array is required." });
      }
      if (!body.content?.length || body.content[0].type !== "text/plain") {
        errors.push({ field: "content.0.type", message: "text/plain must come first." });
      }
      if (errors.length) return jsonAnswer(400, { errors });
      return { status: 202, body: "", headers: { "x-message-id": "W8r9bU2TQ9GYQ5" } };
    }
    const mailgun = /^\/v3\/([^/]+)\/messages$/.exec(path);
    if (mailgun) {
      if (auth !== `Basic ${btoa("api:key-mg")}`) return { status: 401, body: "Forbidden" };
      if (mailgun[1] !== "mg.brand.example") {
        return jsonAnswer(404, { message: "Domain not found: " + mailgun[1] });
      }
      if (request.headers.get("content-type") !== "application/x-www-form-urlencoded") {
        return jsonAnswer(400, { message: "Unsupported content type" });
      }
      const form = new URLSearchParams(request.body);
      for (const key of ["from", "to", "subject"]) {
        if (!form.get(key)) return jsonAnswer(400, { message: `'${key}' parameter is missing` });
      }
      if (!form.get("text") && !form.get("html")) {
        return jsonAnswer(400, { message: "Need at least one of 'text' or 'html' parameters" });
      }
      return jsonAnswer(200, {
        id: "<20260115120000.1.ABCDEF@mg.brand.example>",
        message: "Queued. Thank you.",
      });
    }
    if (path === "/email") {
      const token = request.headers.get("x-postmark-server-token");
      if (token !== "pm-token") {
        return jsonAnswer(401, {
          ErrorCode: 10,
          Message: "Request does not contain a valid Server token.",
        });
      }
      const body = JSON.parse(request.body);
      if (!body.From || !body.To || (!body.TextBody && !body.HtmlBody)) {
        return jsonAnswer(422, { ErrorCode: 300, Message: "Invalid email request" });
      }
      if (body.To.includes("bounced@")) {
        return jsonAnswer(422, {
          ErrorCode: 406,
          Message: "You tried to send to recipient(s) that have been marked as inactive.",
        });
      }
      if (body.From.includes("unverified@")) {
        return jsonAnswer(422, {
          ErrorCode: 400,
          Message: "The 'From' address you supplied is not a Sender Signature on your account.",
        });
      }
      return jsonAnswer(200, {
        To: body.To,
        SubmittedAt: "2026-01-15T12:00:00.0000000-05:00",
        MessageID: "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
        ErrorCode: 0,
        Message: "OK",
      });
    }
    if (path === "/emails") {
      if (!auth.startsWith("Bearer ")) {
        return jsonAnswer(401, {
          statusCode: 401,
          name: "missing_api_key",
          message: "Missing API key in the authorization header.",
        });
      }
      if (auth !== "Bearer re_key") {
        return jsonAnswer(403, {
          statusCode: 403,
          name: "invalid_api_key",
          message: "API key is invalid",
        });
      }
      const body = JSON.parse(request.body);
      if (body.from === "limited@brand.example") {
        return jsonAnswer(429, {
          statusCode: 429,
          name: "rate_limit_exceeded",
          message: "Too many requests. You can only make 2 requests per second.",
        }, { "retry-after": "1", "ratelimit-remaining": "0" });
      }
      for (const key of ["from", "to", "subject"]) {
        if (!body[key]) {
          return jsonAnswer(422, {
            statusCode: 422,
            name: "missing_required_field",
            message: `Missing \`${key}\` field.`,
          });
        }
      }
      const key = request.headers.get("idempotency-key");
      if (key) {
        const seen = idempotency.get(key);
        if (seen && seen.body !== request.body) {
          return jsonAnswer(409, {
            statusCode: 409,
            name: "invalid_idempotent_request",
            message: "Same idempotency key used with a different request payload.",
          });
        }
        if (seen) return jsonAnswer(200, { id: seen.id });
      }
      const id = crypto.randomUUID();
      if (key) idempotency.set(key, { body: request.body, id });
      return jsonAnswer(200, { id });
    }
    return jsonAnswer(404, { message: "Not Found" });
  });
  return Object.assign(server, { idempotency });
}

function apiEmail(
  apiUrl: string,
  provider: "sendgrid" | "mailgun" | "postmark" | "resend",
  apiKey: string,
  extra: Partial<EmailOptions> = {},
): EmailDestination {
  return new EmailDestination("mail", {
    transport: { provider, apiKey, apiUrl },
    from: "Hero Relay <relay@mg.brand.example>",
    to: ["finance@brand.example"],
    cc: ["boss@brand.example"],
    ...extra,
  });
}

Deno.test("SendGrid: 202 is delivered; a bad key is gone; a 429 waits for X-RateLimit-Reset", async () => {
  const apis = fakeEmailApis();
  try {
    const delivery = deliveryOf("new_payout_request");
    const now = 1_700_000_000_000;
    const ok = await apiEmail(apis.url, "sendgrid", "SG.key").send(delivery, sendContext());
    assert.deepEqual(ok, { kind: "delivered", httpStatus: 202 });
    const body = JSON.parse(apis.received[0]!.body);
    assert.deepEqual(body.from, { email: "relay@mg.brand.example", name: "Hero Relay" });
    assert.deepEqual(body.personalizations[0].cc, [{ email: "boss@brand.example" }]);
    assert.deepEqual(body.content.map((c: Json) => c.type), ["text/plain", "text/html"]);
    const gone = await apiEmail(apis.url, "sendgrid", "SG.revoked").send(delivery, sendContext());
    assert.equal(gone.kind, "gone");
    const limited = await apiEmail(apis.url, "sendgrid", "SG.key", {
      from: "limited@brand.example",
    }).send(delivery, sendContext(() => now));
    assert.equal(limited.kind, "retry");
    assert.equal((limited as { retryAfterMs?: number }).retryAfterMs, 60_000);
  } finally {
    await apis.close();
  }
});

Deno.test("Mailgun: a form with Basic api:key is queued; a wrong domain or key is gone", async () => {
  const apis = fakeEmailApis();
  try {
    const delivery = deliveryOf("new_payout_request");
    const ok = await apiEmail(apis.url, "mailgun", "key-mg").send(delivery, sendContext());
    assert.deepEqual(ok, { kind: "delivered", httpStatus: 200 });
    const form = new URLSearchParams(apis.received[0]!.body);
    assert.equal(
      new URL(apis.received[0]!.path, "http://x").pathname,
      "/v3/mg.brand.example/messages",
    );
    assert.deepEqual(form.getAll("to"), ["finance@brand.example"]);
    assert.equal(form.get("cc"), "boss@brand.example");
    assert.match(form.get("html")!, /<h2/);
    const wrongKey = await apiEmail(apis.url, "mailgun", "key-old").send(delivery, sendContext());
    assert.equal(wrongKey.kind, "gone");
    const wrongDomain = await apiEmail(apis.url, "mailgun", "key-mg", {
      from: "relay@other.example",
    }).send(delivery, sendContext());
    assert.equal(wrongDomain.kind, "gone");
    assert.equal(wrongDomain.httpStatus, 404);
  } finally {
    await apis.close();
  }
});

Deno.test("Postmark: ErrorCode 0 is delivered, 406 inactive recipient fails, 400 sender is gone", async () => {
  const apis = fakeEmailApis();
  try {
    const delivery = deliveryOf("new_payout_request");
    const ok = await apiEmail(apis.url, "postmark", "pm-token").send(delivery, sendContext());
    assert.deepEqual(ok, { kind: "delivered", httpStatus: 200 });
    const body = JSON.parse(apis.received[0]!.body);
    assert.equal(body.To, "finance@brand.example");
    assert.equal(body.Cc, "boss@brand.example");
    assert.equal(body.MessageStream, "outbound");
    const bounced = await apiEmail(apis.url, "postmark", "pm-token", {
      to: ["bounced@brand.example"],
    }).send(delivery, sendContext());
    assert.equal(bounced.kind, "failed");
    assert.match((bounced as { error: string }).error, /406/);
    const sender = await apiEmail(apis.url, "postmark", "pm-token", {
      from: "unverified@brand.example",
    }).send(delivery, sendContext());
    assert.equal(sender.kind, "gone");
    const token = await apiEmail(apis.url, "postmark", "wrong").send(delivery, sendContext());
    assert.equal(token.kind, "gone");
    assert.equal(token.httpStatus, 401);
  } finally {
    await apis.close();
  }
});

Deno.test("Resend: the delivery id is the Idempotency-Key, so a retry is not sent twice", async () => {
  const apis = fakeEmailApis();
  try {
    const destination = apiEmail(apis.url, "resend", "re_key");
    const delivery = deliveryOf("new_payout_request");
    const first = await destination.send(delivery, sendContext());
    const second = await destination.send({ ...delivery, attempt: 2 }, sendContext());
    assert.deepEqual(first, { kind: "delivered", httpStatus: 200 });
    assert.deepEqual(second, { kind: "delivered", httpStatus: 200 });
    assert.equal(apis.received[0]!.headers.get("idempotency-key"), "dlv_01TESTDELIVERY");
    assert.equal(apis.idempotency.size, 1, "the second attempt replayed the first");
    const limited = await apiEmail(apis.url, "resend", "re_key", {
      from: "limited@brand.example",
    }).send(deliveryOf("product_sent"), sendContext());
    assert.equal(limited.kind, "retry");
    assert.equal((limited as { retryAfterMs?: number }).retryAfterMs, 1000);
    const invalid = await apiEmail(apis.url, "resend", "re_other").send(delivery, sendContext());
    assert.equal(invalid.kind, "gone");
    const noSubject = await apiEmail(apis.url, "resend", "re_key", { subject: () => "" })
      .send(
        { ...deliveryWith({ ...delivery.message, title: "" }), deliveryId: "dlv_02OTHER" },
        sendContext(),
      );
    assert.equal(noSubject.kind, "delivered", "an empty subject falls back to the event type");
  } finally {
    await apis.close();
  }
});

Deno.test("render() of an e-mail API request masks the key", () => {
  const rendered = apiEmail("https://api.sendgrid.com", "sendgrid", "SG.secret-key")
    .render(deliveryOf("new_payout_request"));
  assert.equal(rendered.url, "https://api.sendgrid.com/…");
  assert.equal(rendered.headers["authorization"], "***");
  assert.doesNotMatch(JSON.stringify(rendered), /SG\.secret-key/);
});

destinationContract({
  type: "email",
  variant: "SendGrid",
  config: (base) => ({
    type: "email",
    provider: "sendgrid",
    api_key: "SG.s3cr3t",
    api_url: base,
    from: "relay@brand.example",
    to: ["finance@brand.example"],
    cc: ["boss@brand.example"],
  }),
  secrets: ["SG.s3cr3t"],
  json: true,
  service: {
    ok: textAnswer(202, ""),
    gone: jsonAnswer(401, { errors: [{ message: "The provided authorization grant is invalid" }] }),
    rateLimited: {
      answer: jsonAnswer(429, { errors: [{ message: "too many requests" }] }, {
        "retry-after": "7",
      }),
      waitMs: 7_000,
    },
    serverError: jsonAnswer(503, { errors: [{ message: "unavailable" }] }),
    rejected: jsonAnswer(400, { errors: [{ message: "Invalid email", field: "to" }] }),
  },
  hostile(rendered) {
    const html = JSON.parse(rendered.body).content[1].value;
    assert.doesNotMatch(html, /<script>|<b>bold/);
    assert.match(html, /&lt;script&gt;/);
  },
});

destinationContract({
  type: "email",
  variant: "SMTP",
  config: (base) => ({
    type: "email",
    smtp_url: `smtp://relay:smtp-pa55@${new URL(base).host}`,
    from: "Hero Relay <relay@brand.example>",
    to: "finance@brand.example",
    subject: "{{ message.title }} ({{ event.type }})",
  }),
  secrets: ["smtp-pa55"],
  json: false,
  hostile(rendered) {
    const html = rendered.body.slice(rendered.body.indexOf("--- text/html ---"));
    assert.doesNotMatch(html, /<script>|<b>bold/);
    assert.match(html, /&lt;script&gt;/);
  },
});
