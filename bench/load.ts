// The built-in load generator, for machines without wrk (CI's smoke run) and for the paced test
// (wrk 4 cannot pace). It sends the same pre-signed bodies as bench/bodies.lua, each with a
// current X-InfluencerHero-Timestamp, and prints one "LOAD_JSON {...}" line with the same fields.
//
//   deno run --allow-net --allow-read bench/load.ts URL BODIES_FILE closed CONNECTIONS SECONDS
//   deno run --allow-net --allow-read bench/load.ts URL BODIES_FILE paced RATE SECONDS
//
// closed: CONNECTIONS loops each send the next request when the previous one is answered.
// paced: RATE requests per second whatever the answers (an open loop, as wrk2 does); a latency is
// counted from the moment the request was due, so a stalled server cannot hide its stall.

interface Webhook {
  path: string;
  signature: string;
  body: string;
}

const [base, file, mode, amount, seconds] = Deno.args;
if (!base || !file || (mode !== "closed" && mode !== "paced") || !amount || !seconds) {
  throw new TypeError("Usage: load.ts URL BODIES_FILE closed|paced CONNECTIONS|RATE SECONDS");
}
const webhooks: Webhook[] = (await Deno.readTextFile(file)).split("\n").filter(Boolean).map(
  (line) => {
    const [signature, path, body] = line.split("\t") as [string, string, string];
    return { signature, path, body };
  },
);
const durationMs = Number(seconds) * 1000;
const latencies: number[] = [];
const errors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };
let next = 0;
let wrapped = 0;

async function send(due: number): Promise<void> {
  if (next === webhooks.length) (next = 0, wrapped++);
  const webhook = webhooks[next++]!;
  try {
    const response = await fetch(base + webhook.path, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-influencerhero-signature": webhook.signature,
        "x-influencerhero-timestamp": String(Math.floor(Date.now() / 1000)),
      },
      body: webhook.body,
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer();
    if (response.status >= 400) errors.status++;
  } catch (error) {
    if ((error as Error).name === "TimeoutError") errors.timeout++;
    else errors.read++;
  }
  latencies.push(performance.now() - due);
}

Deno.stdout.writeSync(new TextEncoder().encode(`Running ${seconds}s test @ ${base}\n`));
const started = performance.now();
const end = started + durationMs;
if (mode === "closed") {
  await Promise.all(Array.from({ length: Number(amount) }, async () => {
    while (performance.now() < end) await send(performance.now());
  }));
} else {
  const rate = Number(amount);
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  for (;;) {
    const elapsed = performance.now() - started;
    if (elapsed >= durationMs) break;
    // Request i is due at i / rate seconds: by now, requests 0 .. floor(elapsed × rate) are.
    const due = Math.floor((elapsed * rate) / 1000) + 1;
    for (; sent < due; sent++) {
      const request = send(started + (sent * 1000) / rate).finally(() => inFlight.delete(request));
      inFlight.add(request);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(inFlight);
}
const elapsed = performance.now() - started;

latencies.sort((a, b) => a - b);
const at = (q: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
const us = (ms: number | undefined) => Math.round((ms ?? 0) * 1000);
const result = {
  requests: latencies.length,
  duration_us: us(elapsed),
  connect_errors: errors.connect,
  read_errors: errors.read,
  write_errors: errors.write,
  status_errors: errors.status,
  timeouts: errors.timeout,
  p50_us: us(at(0.5)),
  p99_us: us(at(0.99)),
  max_us: us(latencies[latencies.length - 1]),
  wrapped,
};
Deno.stdout.writeSync(new TextEncoder().encode(`LOAD_JSON ${JSON.stringify(result)}\n`));
