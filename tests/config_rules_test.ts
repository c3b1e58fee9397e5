// Rules of the config as `check` (run as the binary runs it) shows them: optional secrets and the
// forms of a route's "events".

import assert from "node:assert/strict";
import { runCli, ServeProcess } from "./helpers.ts";

async function check(
  config: unknown,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config), { mode: 0o600 });
    return await runCli(["check", "--config", `${dir}/config.json`], { env });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function config(secrets: string[], events: unknown): unknown {
  return {
    influencer_hero: { signing_secrets: secrets },
    destinations: { log: { type: "console" } },
    routes: [{ name: "r", events, to: ["log"] }],
  };
}

Deno.test("an unset ${IH_SECRET_OLD:-} in influencer_hero.signing_secrets is ignored", async () => {
  const { code, stdout, stderr } = await check(
    config(["${IH_SECRET}", "${IH_SECRET_OLD:-}"], "*"),
    { IH_SECRET: "current-secret-1" },
  );
  assert.equal(code, 0, stderr);
  assert.match(stdout, /Signing secrets: 1 configured/);
  const both = await check(config(["${IH_SECRET}", "${IH_SECRET_OLD:-}"], "*"), {
    IH_SECRET: "current-secret-1",
    IH_SECRET_OLD: "previous-secret-0",
  });
  assert.equal(both.code, 0, both.stderr);
  assert.match(both.stdout, /Signing secrets: 2 configured/);
});

Deno.test("influencer_hero.signing_secrets must still hold one non-empty secret", async () => {
  const { code, stderr } = await check(config(["${IH_SECRET_OLD:-}", ""], "*"));
  assert.equal(code, 1);
  assert.match(stderr, /influencer_hero\.signing_secrets: expected at least one non-empty/);
});

for (const events of ["*", ["*"]]) {
  Deno.test(`"events": ${JSON.stringify(events)} routes every type`, async () => {
    const { code, stdout, stderr } = await check(config(["s-1234567"], events));
    assert.equal(code, 0, stderr);
    assert.match(stdout, /product_sent\s+r → log\n/);
    assert.match(stdout, /\(other types\)\s+r → log\n/);
  });
}

Deno.test('"events": "product_sent" (one name) routes that type only', async () => {
  const { code, stdout, stderr } = await check(config(["s-1234567"], "product_sent"));
  assert.equal(code, 0, stderr);
  assert.match(stdout, /product_sent\s+r → log\n/);
  assert.match(stdout, /new_max_bid\s+\(unrouted: stored only\)\n/);
});

Deno.test("a misspelt event type is allowed with a warning naming the closest known type", async () => {
  const { code, stdout, stderr } = await check(config(["s-1234567"], ["prodcut_sent"]));
  assert.equal(code, 0, stderr);
  assert.match(
    stdout,
    /routes\[0\]\.events\[0\]: "prodcut_sent" is not a documented .*did you mean "product_sent"\?/,
  );
  assert.match(stdout, /prodcut_sent\s+r → log\n/);
});

Deno.test("serve warns about a misspelt event type at start", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    const raw = config(["s-1234567"], ["new_influncer_order"]) as Record<string, unknown>;
    raw.listen = { hostname: "127.0.0.1", port: 0 };
    raw.store = { sqlite: `${dir}/relay.db` };
    await Deno.writeTextFile(path, JSON.stringify(raw), { mode: 0o600 });
    const serve = await ServeProcess.start(path);
    try {
      const warning = serve.logs.find((l) => l.level === "warn");
      assert.match(String(warning?.msg), /did you mean "new_influencer_order"\?/);
    } finally {
      // Not its exit code: SIGTERM right after "relay started" can come before serve listens for it.
      await serve.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
