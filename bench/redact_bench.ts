// The redactor's cost on the hot path: a log line's short fields, and an attempt's error, with a
// config of 16 secrets (about the size of a busy config). Run: deno bench bench/redact_bench.ts

import { Redactor, type SecretValue } from "../src/redact.ts";

const SECRETS: SecretValue[] = [
  { value: "test-signing-secret-0f8e2c1d", kind: "text" },
  { value: "admin-token-Vb7Nm3Kq9Lp2", kind: "text" },
  { value: "https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/slackTokenQ1w2E3r4", kind: "url" },
  {
    value: "https://discord.com/api/webhooks/112233445566778899/discordTok-Aa1Bb2Cc3",
    kind: "url",
  },
  { value: "https://chat.example.com/hooks/mm3kq8x1zb9y7wpfrn5cg2tdoa", kind: "url" },
  {
    value: "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=gcKey-AIzaSy&token=gcTok-0987",
    kind: "url",
  },
  { value: "https://crm.example.com/in", kind: "url" },
  { value: "Bearer httpBearer-5f4e3d2c1b", kind: "header" },
  { value: "httpApiKey-a1b2c3d4", kind: "header" },
  { value: "https://ntfy.sh/ntfyTopic-3x9k2m", kind: "url" },
  { value: "tk_ntfyToken8a7b6c5d", kind: "text" },
  { value: "123456789:AAtgToken-Qq1Ww2Ee3", kind: "text" },
  { value: "SG.sendgridKey-Mm3Nn4Oo5", kind: "text" },
  { value: "smtp://smtpUser:smtpPass-Hh5Gg4@smtp.example.com:587", kind: "url" },
  { value: "postgres://relay:pg-password-1@db.example.com/relay", kind: "url" },
  { value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", kind: "text" },
];

const redactor = new Redactor();
redactor.set(SECRETS);
const FIELDS = ["evt_01JD8M3K4Q2W7E9R5T6Y8U0I1O", "team-slack", "update_commission", "delivered"];
const ERROR = `HTTP 400: {"error":"invalid_payload","detail":"the field 'blocks' ${
  "x".repeat(120)
}"}`;

Deno.bench("set(): expand 16 secrets and build the pattern (once per config load)", () => {
  new Redactor().set(SECRETS);
});

Deno.bench("redact() the string fields of one log line", () => {
  for (const field of FIELDS) redactor.redact(field);
});

Deno.bench("redactCut() one 200-character attempt error", () => {
  redactor.redactCut(ERROR);
});
