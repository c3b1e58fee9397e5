// The README's quick start as a new user runs it: `serve --config config.example.json` from the
// repository as cloned (the example file readable by all), one clear warning about the
// development secret and none about the file, and standard output that the README's jq recipe
// reads line by line while the console destination prints beside it.

import assert from "node:assert/strict";
import { freePort, runCli, ServeProcess } from "./helpers.ts";

const hasJq = await new Deno.Command("jq", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);

/** config.example.json as cloned (mode 644), on a free port, its store in a temp folder. */
async function clonedExample(): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir();
  const text = await Deno.readTextFile(new URL("../config.example.json", import.meta.url));
  const example = JSON.parse(text);
  example.listen.port = freePort();
  example.admin.port = freePort();
  const path = `${dir}/config.example.json`;
  // Same layout as the original (relative store path), so the permission check sees the same text.
  await Deno.writeTextFile(path, JSON.stringify(example, null, 2), { mode: 0o644 });
  await Deno.chmod(path, 0o644);
  return { dir, path };
}

Deno.test({
  name: "the quick start warns once about the development secret, and jq reads its stdout",
  ignore: !hasJq,
  async fn() {
    const { dir, path } = await clonedExample();
    const env = { HERO_RELAY_SIGNING_SECRET: "" };
    const serve = await ServeProcess.start(path, { env });
    let id = "";
    try {
      const sent = await runCli(["send-test", "product_sent", "--config", path], { env });
      assert.equal(sent.code, 0, sent.stdout + sent.stderr);
      id = JSON.parse(sent.stdout.replace(/^product_sent\s+200 /, "")).id;
      await serve.waitForLog((l) => l.msg === "delivered" && l["destination"] === "console");
      assert.match(serve.stderr, /── product_sent evt_\w+ → console ──/);
    } finally {
      await serve.stop();
    }
    const warnings = serve.logs.filter((l) => l.level === "warn");
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.match(String(warnings[0]!.msg), /development secret .* anyone can sign webhooks/);
    assert.doesNotMatch(serve.stdout.join("\n"), /readable by other users|chmod/);

    const jq = new Deno.Command("jq", {
      args: ["-c", `select(.event == "${id}")`],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = jq.stdin.getWriter();
    await writer.write(new TextEncoder().encode(serve.stdout.join("\n") + "\n"));
    await writer.close();
    const out = await jq.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const lines = new TextDecoder().decode(out.stdout).trimEnd().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.ok(lines.some((l) => l.msg === "request" && l.status === 200), JSON.stringify(lines));
    assert.ok(lines.some((l) => l.msg === "delivered" && l.destination === "console"));
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("the first start generates the admin token beside the store (0600), logs where it is, never the token, and keeps it", async () => {
  const { dir, path } = await clonedExample();
  const tokenFile = `${dir}/data/admin-token`;
  const start = async () => {
    const serve = await ServeProcess.start(path, { env: { HERO_RELAY_SIGNING_SECRET: "" } });
    try {
      const ready = await serve.waitForLog((l) => l.msg === "console ready");
      const token = (await Deno.readTextFile(tokenFile)).trim();
      assert.ok(token.length >= 32);
      assert.equal((await Deno.stat(tokenFile)).mode! & 0o777, 0o600);
      assert.match(String(ready["url"]), /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.equal(ready["sign_in"], `with the token in ${tokenFile}`);
      const api = new URL("events", String(ready["url"]));
      const denied = await fetch(api);
      assert.equal(denied.status, 401);
      await denied.body?.cancel();
      const allowed = await fetch(api, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(allowed.status, 200);
      await allowed.body?.cancel();
      assert.ok(!serve.stdout.join("\n").includes(token), "the token is logged");
      assert.ok(!serve.stderr.includes(token), "the token is printed");
      return token;
    } finally {
      await serve.stop();
    }
  };
  try {
    const first = await start();
    assert.equal(await start(), first, "a restart keeps the token");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
