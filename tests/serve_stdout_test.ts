// `serve` whose standard output goes away (a log pipe closed, `| head`): the relay keeps
// receiving and answering; the lost log lines are reported once on standard error.

import assert from "node:assert/strict";
import { consoleConfig, freshSample, post, relayCommand } from "./helpers.ts";

Deno.test("serve keeps answering when its standard output is closed", async () => {
  const { dir, path, base } = await consoleConfig([{ name: "all", events: "*", to: ["log"] }]);
  const relay = await relayCommand(["serve", "--config", path]);
  const child = new Deno.Command(relay.command, {
    args: relay.args,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    // Read until the relay has started, then close the pipe from this end.
    const reader = child.stdout.getReader();
    const decoder = new TextDecoder();
    let seen = "";
    while (!seen.includes('"relay started"')) {
      const { done, value } = await reader.read();
      assert.ok(!done, `serve ended before starting: ${seen}`);
      seen += decoder.decode(value);
    }
    await reader.cancel();
    for (let i = 0; i < 5; i++) {
      const { status, json } = await post(
        base,
        "/hooks/update_commission",
        freshSample("update_commission"),
      );
      assert.equal(status, 200, JSON.stringify(json));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    child.kill("SIGTERM");
  }
  const status = await child.status;
  assert.equal(status.code, 0, `exit ${status.code}: ${await stderr}`);
  const reports = (await stderr).split("\n").filter((l) => l.includes("cannot write logs"));
  assert.equal(reports.length, 1, await stderr);
  await Deno.remove(dir, { recursive: true });
});
