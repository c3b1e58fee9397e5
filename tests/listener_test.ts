// The listener under hostile clients: idle, keep-alive and half-sent connections are closed
// after their timeouts, and the listener goes on serving.

import assert from "node:assert/strict";
import { freshSample, signed, testConfig, testRelay } from "./helpers.ts";

const encoder = new TextEncoder();

/** Reads until the server closes the connection; resolves with everything it sent. */
async function untilClosed(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(4096);
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(decoder.decode(buffer.subarray(0, n), { stream: true }));
    }
  } catch {
    // A reset is a close too.
  }
  try {
    conn.close();
  } catch {
    // Already closed.
  }
  return chunks.join("");
}

/** Fails instead of hanging when `promise` does not settle within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not happen in ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("idle, keep-alive and half-sent connections are closed after their timeouts", async () => {
  const dir = await Deno.makeTempDir();
  const { relay } = await testRelay(testConfig(dir, {
    listen: {
      hostname: "127.0.0.1",
      port: 0,
      idle_timeout: "300ms",
      header_timeout: "400ms",
      body_timeout: "500ms",
    },
    destinations: { log: { type: "console" } },
    routes: [],
  }));
  try {
    const port = Number(new URL(relay.url).port);
    const silent = await Deno.connect({ hostname: "127.0.0.1", port });
    const kept = await Deno.connect({ hostname: "127.0.0.1", port });
    await kept.write(encoder.encode("GET /healthz HTTP/1.1\r\nhost: relay\r\n\r\n"));
    const slowHeaders = await Deno.connect({ hostname: "127.0.0.1", port });
    await slowHeaders.write(encoder.encode("POST /hooks HTTP/1.1\r\nhost: relay\r\n"));
    const slowBody = await Deno.connect({ hostname: "127.0.0.1", port });
    await slowBody.write(
      encoder.encode(
        "POST /hooks HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\n" +
          "content-length: 2000\r\n\r\n{",
      ),
    );
    const [a, b, c, d] = await within(
      Promise.all([silent, kept, slowHeaders, slowBody].map(untilClosed)),
      10_000,
      "closing every idle connection",
    );
    assert.match(a!, /^(?:|HTTP\/1\.1 408 [^]*)$/, "a silent connection is closed");
    assert.match(b!, /^HTTP\/1\.1 200 /, "the keep-alive connection was answered, then closed");
    assert.match(c!, /^HTTP\/1\.1 408 /, "headers that never end get 408");
    assert.match(d!, /^HTTP\/1\.1 408 /, `a body that never ends gets 408: ${JSON.stringify(d)}`);
    const { body, headers } = await signed(freshSample("commission_changed"));
    const ok = await fetch(`${relay.url}/hooks`, { method: "POST", headers, body });
    assert.equal(ok.status, 200, "the listener still serves after closing them");
    await ok.body?.cancel();
  } finally {
    await relay.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
