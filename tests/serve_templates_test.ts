// `serve` loads Liquid on demand: a config without templates of its own starts without it and
// still renders the built-in messages; a config with a condition loads it before compiling.
// Each case is a fresh process, so nothing was loaded beforehand.

import assert from "node:assert/strict";
import { consoleConfig, eventually, freshSample, post, ServeProcess } from "./helpers.ts";

async function serveWith(routes: unknown[]): Promise<{ serve: ServeProcess; base: string }> {
  const { path, base } = await consoleConfig(routes);
  return { serve: await ServeProcess.start(path), base };
}

Deno.test("serve without templates of its own renders the built-in message", async () => {
  const { serve, base } = await serveWith([{ name: "all", events: "*", to: ["log"] }]);
  try {
    const payload = freshSample("update_commission", {
      commission_information: { old_commission_perc: 10, new_commission_perc: 15 },
    });
    const { status } = await post(base, "/hooks/update_commission", payload);
    assert.equal(status, 200);
    await eventually(() =>
      serve.stderr.split("\n").some((line) => line.includes("Commission changed for"))
    );
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});

Deno.test("serve with a route's own message parts loads Liquid and renders them", async () => {
  const { serve, base } = await serveWith([{
    name: "custom",
    events: "*",
    to: ["log"],
    message: { title: "Custom {{ event.type }} for {{ deal_id }}" },
  }]);
  try {
    const payload = freshSample("update_commission", { deal_id: "deal-42" });
    const { status } = await post(base, "/hooks/update_commission", payload);
    assert.equal(status, 200);
    await eventually(() =>
      serve.stderr.split("\n").some((line) => line.includes("Custom update_commission for deal-42"))
    );
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});

Deno.test("serve with a route condition compiles it and routes by it", async () => {
  const { serve, base } = await serveWith([{
    name: "raises",
    events: ["update_commission"],
    when: "commission_information.new_commission_perc > 12",
    to: ["log"],
  }]);
  try {
    const low = freshSample("update_commission", {
      commission_information: { old_commission_perc: 10, new_commission_perc: 11 },
    });
    const high = freshSample("update_commission", {
      commission_information: { old_commission_perc: 10, new_commission_perc: 20 },
    });
    const first = await post(base, "/hooks/update_commission", low);
    const second = await post(base, "/hooks/update_commission", high);
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    await serve.waitForLog((l) => l.msg === "event unrouted" && l.event === first.json.id);
    await serve.waitForLog((l) => l.msg === "delivered" && l.event === second.json.id);
    assert.ok(
      serve.stderr.split("\n").some((line) => line.includes("20%")),
      serve.stderr,
    );
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});

Deno.test("a relay that only forwards events as they are never loads Liquid", async () => {
  const dir = await Deno.makeTempDir();
  const root = new URL("..", import.meta.url);
  const script = `${dir}/probe.ts`;
  // A fresh process: the relay, an http destination without a body template, one delivery.
  await Deno.writeTextFile(
    script,
    `
import { startRelay } from "${new URL("src/relay.ts", root).href}";
import { parseConfig } from "${new URL("src/config.ts", root).href}";
import { SILENT } from "${new URL("src/log.ts", root).href}";
import { templatesLoaded } from "${new URL("src/template.ts", root).href}";
let received = 0;
const sink = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
  await request.arrayBuffer();
  received++;
  return new Response("ok");
});
const config = parseConfig(JSON.stringify({
  listen: { hostname: "127.0.0.1", port: 0 },
  influencer_hero: { signing_secrets: ["s3cret-for-the-probe"] },
  store: { sqlite: "${dir}/relay.db" },
  destinations: { zap: { type: "http", url: "http://127.0.0.1:" + sink.addr.port + "/hook" } },
  routes: [{ name: "all", events: "*", to: ["zap"] }],
}), "probe", { env: () => undefined });
const relay = await startRelay({ config, source: "probe", log: SILENT, write: () => {}, port: 0, pollMs: 20 });
const body = new TextEncoder().encode(JSON.stringify({ deal_id: "d1", commission_information: { new_commission_perc: 5 } }));
const key = await crypto.subtle.importKey("raw", new TextEncoder().encode("s3cret-for-the-probe"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
const mac = Array.from(new Uint8Array(await crypto.subtle.sign("HMAC", key, body)), (b) => b.toString(16).padStart(2, "0")).join("");
const response = await fetch(relay.url + "/hooks/update_commission", { method: "POST", body, headers: {
  "content-type": "application/json", "x-influencerhero-signature": mac,
  "x-influencerhero-timestamp": String(Math.floor(Date.now() / 1000)) } });
await response.body?.cancel();
while (received === 0) await new Promise((resolve) => setTimeout(resolve, 10));
console.log(JSON.stringify({ status: response.status, received, loaded: templatesLoaded() }));
await relay.stop();
await sink.shutdown();
`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", new URL("deno.json", root).pathname, script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const result = JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!);
  assert.deepEqual(result, { status: 200, received: 1, loaded: false });
  await Deno.remove(dir, { recursive: true });
});
