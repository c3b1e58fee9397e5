// Any HTTP endpoint: the shared destination contract with the plain HTTP rules (2xx delivered,
// 410 gone, 429 and 5xx retried with Retry-After, other 4xx failed).

import { destinationContract } from "./destination_contract.ts";

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
  status,
  body: JSON.stringify(body),
  headers: { "content-type": "application/json", ...headers },
});

destinationContract({
  type: "http",
  config: (base) => ({
    type: "http",
    url: `${base}/crm?token=crm-query-s3cr3t`,
    headers: { authorization: "Bearer crm-bearer-s3cr3t" },
    signing_secrets: ["whsec_" + btoa("0123456789abcdef0123456789abcdef")],
  }),
  secrets: ["crm-query-s3cr3t", "crm-bearer-s3cr3t", btoa("0123456789abcdef0123456789abcdef")],
  json: true,
  service: {
    ok: json(200, { status: "success" }),
    gone: json(410, { error: "hook deleted" }),
    rateLimited: {
      answer: json(429, { error: "slow down" }, { "retry-after": "7" }),
      waitMs: 7_000,
    },
    serverError: json(503, { error: "maintenance" }),
    rejected: json(400, { error: "bad payload" }),
  },
});
