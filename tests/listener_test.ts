// The listener under hostile clients: idle, keep-alive and half-sent connections are closed
// after their timeouts, and the listener goes on serving.

import assert from "node:assert/strict";
import { listen } from "../src/listener.ts";
import {
  freePort,
  freshSample,
  SECRET,
  ServeProcess,
  signed,
  testConfig,
  testRelay,
} from "./helpers.ts";

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

/** Sends one signed event on a fresh connection; resolves with the status, or 0 after `ms`. */
async function signedPost(base: string, n: number, ms = 5_000): Promise<number> {
  const { body, headers } = await signed(freshSample("product_sent", { n }));
  try {
    const answer = await fetch(`${base}/hooks/product_sent`, {
      method: "POST",
      headers: { ...headers, connection: "close" },
      body,
      signal: AbortSignal.timeout(ms),
    });
    await answer.body?.cancel();
    return answer.status;
  } catch {
    return 0;
  }
}

/** `serve` under an open-file limit of 256, with these `listen` settings and a console sink. */
async function serveUnderNofile256(listen: Record<string, unknown>) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.json`;
  const port = freePort();
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      listen: { hostname: "127.0.0.1", port, ...listen },
      influencer_hero: { signing_secrets: [SECRET] },
      store: { sqlite: `${dir}/relay.db` },
      destinations: { log: { type: "console" } },
      routes: [],
    }),
    { mode: 0o600 },
  );
  const serve = await ServeProcess.start(path, { wrapper: ["prlimit", "--nofile=256:256"] });
  return { dir, port, base: `http://127.0.0.1:${port}`, serve };
}

Deno.test("under nofile 256, 10x that many idle connections, slow bodies and a connection burst neither end serve nor keep signed requests out", async () => {
  const maxConcurrent = 8;
  const { dir, port, base, serve } = await serveUnderNofile256({
    max_concurrent_requests: maxConcurrent,
    idle_timeout: "2s",
    header_timeout: "2s",
    body_timeout: "20s",
  });
  const closings: Promise<string>[] = [];
  const trickling: Deno.Conn[] = [];
  let n = 0;
  try {
    // 2x max_concurrent_requests bodies that arrive one byte a second.
    for (let i = 0; i < 2 * maxConcurrent; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(encoder.encode(
        "POST /hooks/product_sent HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\n" +
          "x-influencerhero-signature: 00\r\nx-influencerhero-timestamp: 0\r\n" +
          "content-length: 2000\r\n\r\n{",
      ));
      trickling.push(conn);
      closings.push(untilClosed(conn));
    }
    const trickle = setInterval(() => {
      for (const conn of trickling) conn.write(encoder.encode(" ")).catch(() => {});
    }, 1_000);
    try {
      // 2,560 connections that never send a byte, 32 at a time, a signed event after each wave.
      const statuses: number[] = [];
      for (let wave = 0; wave < 80; wave++) {
        const conns = await Promise.all(
          Array.from({ length: 32 }, () => Deno.connect({ hostname: "127.0.0.1", port })),
        );
        for (const conn of conns) closings.push(untilClosed(conn));
        statuses.push(await signedPost(base, n++));
      }
      assert.deepEqual(statuses.filter((s) => s !== 200), [], "every signed event got 200");
    } finally {
      clearInterval(trickle);
    }

    // 400 connections at once: more than the process has descriptors for.
    const burst = await Promise.all(
      Array.from(
        { length: 400 },
        () => Deno.connect({ hostname: "127.0.0.1", port }).catch(() => null),
      ),
    );
    for (const conn of burst) if (conn !== null) closings.push(untilClosed(conn));
    // Within a few probes the listener takes connections again, if the burst stopped it.
    let status = 0;
    for (let tries = 0; status !== 200 && tries < 30; tries++) {
      status = await signedPost(base, n++, 2_000);
    }
    assert.equal(status, 200, "a signed event gets 200 after the burst");
    // The timeouts still hold after the burst.
    const slow = await Deno.connect({ hostname: "127.0.0.1", port });
    await slow.write(encoder.encode("POST /hooks HTTP/1.1\r\nhost: relay\r\n"));
    assert.match(
      await within(untilClosed(slow), 10_000, "closing slow headers"),
      /^HTTP\/1\.1 408 /,
    );

    // Every idle and slow connection was closed by the relay, none by this test.
    await within(Promise.all(closings), 60_000, "closing every connection");
    const stored = serve.logs.filter((l) => l.msg === "event unrouted").length;
    assert.equal(stored, 81, "each event answered 200 is stored");
    assert.ok(
      !serve.logs.some((l) => l.level === "error" && !String(l.msg).includes("listen again")),
      serve.stdout.join("\n"),
    );
  } finally {
    for (const conn of trickling) {
      try {
        conn.close();
      } catch {
        // Closed by the relay.
      }
    }
    assert.equal(await serve.stop(), 0, serve.stderr);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("when a burst runs serve out of descriptors and its accept loop stops, the listener listens again and serve keeps running", async () => {
  // A cap far above what nofile 256 allows, as an operator might set it by mistake.
  const { dir, port, base, serve } = await serveUnderNofile256({
    max_connections: 1_000,
    header_timeout: "2s",
  });
  const closings: Promise<string>[] = [];
  try {
    assert.equal(await signedPost(base, 0), 200);
    const burst = await Promise.all(
      Array.from(
        { length: 400 },
        () => Deno.connect({ hostname: "127.0.0.1", port }).catch(() => null),
      ),
    );
    for (const conn of burst) if (conn !== null) closings.push(untilClosed(conn));
    // Deno 2.9.6's accept loop ends for good at EMFILE; two missed probes (5 s apart) later the
    // listener listens again.
    await serve.waitForLog((l) => String(l.msg).includes("listens again"), 40_000);
    let status = 0;
    for (let tries = 0; status !== 200 && tries < 10; tries++) status = await signedPost(base, 1);
    assert.equal(status, 200, "a signed event gets 200 on the new accept loop");
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^hero_relay_listener_restarts_total [1-9]\d*$/m);
    // The timeouts hold on the new accept loop too.
    const slow = await Deno.connect({ hostname: "127.0.0.1", port });
    await slow.write(encoder.encode("POST /hooks HTTP/1.1\r\nhost: relay\r\n"));
    assert.match(
      await within(untilClosed(slow), 10_000, "closing slow headers"),
      /^HTTP\/1\.1 408 /,
    );
    await within(Promise.all(closings), 30_000, "closing the burst's connections");
  } finally {
    assert.equal(await serve.stop(), 0, serve.stderr);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the handler sees the method, the target and every header as the client sent them", async () => {
  const seen: Array<{ method: string; url: string; headers: [string, string][]; body: string }> =
    [];
  const listener = await listen({
    hostname: "127.0.0.1",
    port: 0,
    limits: () => ({
      maxConnections: 8,
      idleTimeoutMs: 5_000,
      headersTimeoutMs: 5_000,
      requestTimeoutMs: 5_000,
    }),
    handler: async (request) => {
      seen.push({
        method: request.method,
        url: request.url,
        headers: [...request.headers],
        body: await request.text(),
      });
      return new Response("ok");
    },
  });
  const send = async (head: string, body = "") => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    await conn.write(encoder.encode(head + body));
    const answer = await untilClosed(conn);
    assert.match(answer, /^HTTP\/1\.1 200 /);
  };
  try {
    await send(
      "POST /hooks/update_commission?x=1&y=%20 HTTP/1.1\r\nHost: relay.example\r\n" +
        "Content-Type: application/json\r\nX-Tag: one\r\nx-tag: two\r\n" +
        "Content-Length: 2\r\nConnection: close\r\n\r\n",
      "{}",
    );
    // An absolute-form target (as sent to a proxy) and a path starting with "//".
    await send("GET http://other.example/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await send("GET //evil.example/hooks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const base = `http://127.0.0.1:${listener.addr.port}`;
    assert.deepEqual(seen[0], {
      method: "POST",
      url: `${base}/hooks/update_commission?x=1&y=%20`,
      headers: [
        ["connection", "close"],
        ["content-length", "2"],
        ["content-type", "application/json"],
        ["host", "relay.example"],
        ["x-tag", "one, two"],
      ],
      body: "{}",
    });
    assert.equal(new URL(seen[1]!.url).pathname, "/healthz");
    assert.equal(seen[2]!.url, `${base}//evil.example/hooks`);
    assert.equal(new URL(seen[2]!.url).host, `127.0.0.1:${listener.addr.port}`);
  } finally {
    await listener.close();
  }
});
