// Any sender that signs with an HMAC, described by config: the signature's header, its
// encoding (hex or base64) and prefix ("sha256="), optionally a signed timestamp (in a header of
// its own, or beside the signature in one header as Stripe's `t=…,v1=…`) joined with the body
// as `signed_content` says, and where the event type and delivery id are (a header or a body
// field). GitHub, Stripe-like senders, Refersion and UpPromote are configs of this one type.

import { z } from "zod";
import {
  headerName,
  payloadPath,
  sourceOptions,
  sourceSecrets,
  toleranceSeconds,
} from "./schema_kit.ts";
import {
  anyMatches,
  DIGEST_BYTES,
  fail,
  fieldAt,
  fromBase64,
  fromHex,
  type HmacHash,
  hmacKeys,
  joinBytes,
  sourceType,
  type SourceVerdict,
  textOf,
  timestampProblem,
} from "./source.ts";

const HASHES: Readonly<Record<string, HmacHash>> = {
  sha1: "SHA-1",
  sha256: "SHA-256",
  sha512: "SHA-512",
};

const schema = z.strictObject({
  type: z.literal("hmac"),
  secrets: sourceSecrets("The sender's signing secrets; two during a rotation"),
  ...sourceOptions,
  signature_header: headerName.describe('The header holding the signature ("X-Hub-Signature-256")'),
  encoding: z.enum(["hex", "base64"]).default("hex").describe(
    'How the signature is written: "hex" (default) or "base64"',
  ),
  algorithm: z.enum(["sha256", "sha1", "sha512"]).default("sha256").describe(
    'The HMAC hash: "sha256" (default), "sha512" or "sha1"',
  ),
  prefix: z.string().min(1).optional().describe(
    'Text before the signature, such as "sha256=" (GitHub); required when set',
  ),
  signature_keys: z.strictObject({
    signature: z.string().regex(/^[A-Za-z0-9_-]+$/).describe('The key of each signature ("v1")'),
    timestamp: z.string().regex(/^[A-Za-z0-9_-]+$/).optional().describe(
      'The key of the signed timestamp ("t")',
    ),
  }).optional().describe(
    "The signature header is comma-separated key=value pairs (Stripe's " +
      '"t=1700000000,v1=<hex>"): the keys of the signatures and of the timestamp',
  ),
  timestamp_header: headerName.optional().describe(
    "A header of its own holding the signed timestamp (Unix seconds)",
  ),
  signed_content: z.string().optional().describe(
    'What is signed: "{body}" (default), or with a timestamp "{timestamp}.{body}" (default ' +
      "then); {body} is the raw body, {timestamp} and {id} the headers' values",
  ),
  tolerance_seconds: toleranceSeconds,
  type_header: headerName.optional().describe('The header naming the event ("X-GitHub-Event")'),
  type_field: payloadPath.optional().describe('The body field naming the event ("type")'),
  id_header: headerName.optional().describe(
    'The header with the delivery\'s unique id, for deduplication ("X-GitHub-Delivery")',
  ),
  id_field: payloadPath.optional().describe("The body field with the event's unique id"),
}).superRefine((entry, context) => {
  const problem = (path: string, message: string) =>
    context.addIssue({ code: "custom", path: [path], message });
  const timestamped = entry.timestamp_header !== undefined ||
    entry.signature_keys?.timestamp !== undefined;
  if (entry.timestamp_header !== undefined && entry.signature_keys?.timestamp !== undefined) {
    problem("timestamp_header", 'set "timestamp_header" or "signature_keys.timestamp", not both');
  }
  if (entry.type_header !== undefined && entry.type_field !== undefined) {
    problem("type_field", 'set "type_header" or "type_field", not both');
  }
  if (entry.id_header !== undefined && entry.id_field !== undefined) {
    problem("id_field", 'set "id_header" or "id_field", not both');
  }
  const content = entry.signed_content;
  if (content !== undefined) {
    if (content.split("{body}").length !== 2) {
      problem("signed_content", 'expected "{body}" exactly once');
    }
    if (/\{(?!body\}|timestamp\}|id\})[^}]*\}/.test(content)) {
      problem("signed_content", "expected only {body}, {timestamp} and {id} placeholders");
    }
    if (timestamped !== content.includes("{timestamp}")) {
      problem(
        "signed_content",
        timestamped
          ? "expected {timestamp}: a timestamp that is not signed proves nothing"
          : "{timestamp} needs timestamp_header or signature_keys.timestamp",
      );
    }
    if (content.includes("{id}") && entry.id_header === undefined) {
      problem("signed_content", "{id} needs id_header");
    }
  }
}).describe("Any HMAC-signing sender described by its headers, received at /sources/<name>");

/** The `hmac` source type. */
export const hmacType = sourceType({
  type: "hmac",
  schema,
  async create(entry, { now }) {
    const hash = HASHES[entry.algorithm]!;
    const size = DIGEST_BYTES[hash];
    const keys = await hmacKeys(entry.secrets, hash);
    const header = entry.signature_header;
    const pairs = entry.signature_keys;
    const timestamped = entry.timestamp_header !== undefined || pairs?.timestamp !== undefined;
    const content = entry.signed_content ?? (timestamped ? "{timestamp}.{body}" : "{body}");
    const [before, after] = content.split("{body}") as [string, string];
    const decode = (text: string) => {
      const value = entry.prefix === undefined
        ? text
        : text.startsWith(entry.prefix)
        ? text.slice(entry.prefix.length)
        : null;
      if (value === null) return null;
      const mac = entry.encoding === "hex" ? fromHex(value) : fromBase64(value);
      return mac !== null && mac.byteLength === size ? mac : null;
    };
    const expected = `${header} must be ${entry.prefix ? `"${entry.prefix}" and ` : ""}` +
      `the ${entry.encoding} ${entry.algorithm.toUpperCase()} HMAC` +
      (pairs ? ` in ${pairs.timestamp ? `${pairs.timestamp}=…,` : ""}${pairs.signature}=…` : "");
    return {
      async verify(headers, body): Promise<SourceVerdict> {
        const value = headers.get(header);
        if (value === null || value === "") {
          return fail("missing_signature", `Missing ${header} header`);
        }
        let signatures: Uint8Array<ArrayBuffer>[];
        let timestamp: string | null = null;
        let timestampName = entry.timestamp_header ?? "";
        if (pairs !== undefined) {
          const fields = value.split(",").map((part) => {
            const at = part.indexOf("=");
            return at < 0 ? ["", ""] : [part.slice(0, at).trim(), part.slice(at + 1).trim()];
          });
          signatures = fields.filter(([key]) => key === pairs.signature).flatMap(([, v]) => {
            const mac = decode(v!);
            return mac === null ? [] : [mac];
          });
          if (pairs.timestamp !== undefined) {
            timestamp = fields.find(([key]) => key === pairs.timestamp)?.[1] ?? null;
            timestampName = `the ${pairs.timestamp}= of ${header}`;
          }
        } else {
          const mac = decode(value);
          signatures = mac === null ? [] : [mac];
        }
        if (signatures.length === 0) return fail("malformed_signature", expected);
        if (entry.timestamp_header !== undefined) {
          timestamp = headers.get(entry.timestamp_header);
          timestampName = entry.timestamp_header;
        }
        if (timestamped) {
          const problem = timestampProblem(
            timestamp,
            timestampName,
            entry.tolerance_seconds,
            now(),
          );
          if (problem !== null) return problem;
        }
        let id = "";
        if (content.includes("{id}")) {
          id = headers.get(entry.id_header!) ?? "";
          if (id === "") return fail("missing_id", `Missing ${entry.id_header} header`);
        }
        const fill = (text: string) =>
          text.replaceAll("{timestamp}", timestamp ?? "").replaceAll("{id}", id);
        return await anyMatches(keys, signatures, joinBytes(fill(before), body, fill(after)))
          ? { ok: true }
          : fail("bad_signature", "Signature does not match");
      },
      identify(headers, payload) {
        const topic = entry.type_header !== undefined
          ? headers.get(entry.type_header)
          : entry.type_field !== undefined
          ? fieldAt(payload, entry.type_field)
          : null;
        const id = entry.id_header !== undefined
          ? headers.get(entry.id_header)
          : entry.id_field !== undefined
          ? fieldAt(payload, entry.id_field)
          : null;
        return { topic: textOf(topic), id: textOf(id) };
      },
    };
  },
});
