// hero-relay.service as systemd reads it: `systemd-analyze verify` finds nothing to say, the
// offline security review rates it well, and its command line is one the relay accepts.

import assert from "node:assert/strict";
import { runCli, SECRET } from "./helpers.ts";

const UNIT = new URL("../hero-relay.service", import.meta.url);
const ANALYZE = await new Deno.Command("systemd-analyze", { args: ["--version"], stdout: "null" })
  .output().then((o) => o.success, () => false);

async function analyze(args: string[]): Promise<{ code: number; said: string }> {
  const output = await new Deno.Command("systemd-analyze", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, said: decoder.decode(output.stdout) + decoder.decode(output.stderr) };
}

Deno.test({
  name: "systemd-analyze verifies hero-relay.service and rates its exposure at most 3",
  ignore: !ANALYZE,
  async fn() {
    const dir = await Deno.makeTempDir();
    // verify wants ExecStart's file to exist: the same unit, pointing at a stand-in.
    await Deno.writeTextFile(`${dir}/hero-relay`, "#!/bin/sh\n", { mode: 0o755 });
    const unit = (await Deno.readTextFile(UNIT)).replace(
      "ExecStart=/usr/local/bin/hero-relay ",
      `ExecStart=${dir}/hero-relay `,
    );
    assert.ok(unit.includes(`ExecStart=${dir}/hero-relay serve`), "ExecStart runs the binary");
    await Deno.writeTextFile(`${dir}/hero-relay.service`, unit);
    try {
      const verify = await analyze(["verify", `${dir}/hero-relay.service`]);
      assert.equal(verify.code, 0, verify.said);
      assert.equal(verify.said.trim(), "", verify.said);
      const security = await analyze([
        "security",
        "--offline=yes",
        "--threshold=30", // tenths: 3.0
        `${dir}/hero-relay.service`,
      ]);
      assert.equal(security.code, 0, security.said);
      assert.match(security.said, /Overall exposure level for hero-relay\.service: [0-2]\.\d|3\.0/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the unit's command line, reload and state directory fit the relay", async () => {
  const unit = await Deno.readTextFile(UNIT);
  const line = (key: string) => unit.match(new RegExp(`^${key}=(.*)$`, "m"))?.[1];
  assert.equal(
    line("ExecReload"),
    "/bin/kill -HUP $MAINPID",
    "reload is SIGHUP, which serve takes",
  );
  assert.equal(line("StateDirectory"), "hero-relay");
  assert.equal(line("ProtectSystem"), "strict");
  assert.equal(line("NoNewPrivileges"), "yes");
  const [binary, ...args] = line("ExecStart")!.split(" ");
  assert.equal(binary, "/usr/local/bin/hero-relay", "where install.sh puts it");
  assert.deepEqual(args, ["serve", "--config", "/etc/hero-relay/config.json"]);
  // The store line the unit's comment gives, in a config checked as serve would read it.
  const store = unit.match(/"store": \{ "sqlite": "([^"]+)" \}/)?.[1];
  assert.equal(store, "${STATE_DIRECTORY}/hero-relay.db");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({
        influencer_hero: { signing_secrets: ["${IH_SECRET}"] },
        store: { sqlite: store },
        destinations: { log: { type: "console" } },
        routes: [{ name: "all", events: "*", to: ["log"] }],
      }),
    );
    const checked = await runCli(["check", "--config", `${dir}/config.json`], {
      env: { STATE_DIRECTORY: `${dir}/state`, IH_SECRET: SECRET },
    });
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, new RegExp(`${dir}/state/hero-relay\\.db`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
