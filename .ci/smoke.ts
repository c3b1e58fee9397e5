// The release smoke test, run on each platform's own runner against the binary it just built:
// `--version`, then `serve` on the example config, `send-test all` with every answer 200, and a
// clean stop. Usage: deno run -A .ci/smoke.ts <binary>. Exits 1 with the reason on failure.

// deno-lint-ignore-file no-console

import denoJson from "../deno.json" with { type: "json" };

const binary = Deno.args[0];

/** Stops the smoke test with a reason; serve is stopped first. */
function fail(reason: string): never {
  throw new Error(reason);
}

async function run(args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(binary!, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function smoke(): Promise<void> {
  const version = await run(["--version"]);
  if (version.code !== 0 || version.stdout.trim() !== `hero-relay ${denoJson.version}`) {
    fail(`--version printed ${JSON.stringify(version.stdout + version.stderr)}`);
  }
  console.log(`--version: ${version.stdout.trim()}`);

  // The example config in a folder of its own, so its store is created there.
  const dir = await Deno.makeTempDir();
  const config = `${dir}/config.json`;
  await Deno.copyFile(new URL("../config.example.json", import.meta.url), config);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const env = { NO_COLOR: "1" };
  const serve = new Deno.Command(binary!, {
    args: ["serve", "--config", config, "--port", String(port)],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new Response(serve.stdout).text();
  const stderr = new Response(serve.stderr).text();
  let stopped = false;
  try {
    const base = `http://127.0.0.1:${port}`;
    let healthy = false;
    for (let i = 0; i < 100 && !healthy; i++) {
      try {
        const answer = await fetch(`${base}/healthz`);
        await answer.body?.cancel();
        healthy = answer.ok;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    if (!healthy) fail("serve did not answer /healthz within 10 s");
    const sent = await run(["send-test", "all", "--config", config, "--url", base], env);
    const lines = sent.stdout.trim().split("\n").filter((line) => line.trim() !== "");
    const refused = lines.filter((line) => !/^\S+\s+200 /.test(line));
    if (sent.code !== 0 || lines.length < 6 || refused.length > 0) {
      fail(`send-test all: exit ${sent.code}\n${sent.stdout}${sent.stderr}`);
    }
    console.log(`send-test all: ${lines.length} events, every answer 200`);
  } finally {
    // SIGTERM where there are signals; Windows has only termination.
    serve.kill(Deno.build.os === "windows" ? "SIGKILL" : "SIGTERM");
    const { code } = await serve.status;
    stopped = Deno.build.os === "windows" || code === 0;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const log = await stdout;
  if (!stopped) fail(`serve exited with an error on SIGTERM\n${log}${await stderr}`);
  if (Deno.build.os !== "windows" && !log.includes('"relay stopped"')) {
    fail(`serve stopped without "relay stopped" in its log\n${log}`);
  }
  console.log("serve: stopped cleanly");
}

if (binary === undefined) {
  console.error("usage: deno run -A .ci/smoke.ts <binary>");
  Deno.exit(2);
}
try {
  await smoke();
} catch (error) {
  console.error(`smoke test failed: ${(error as Error).message}`);
  Deno.exit(1);
}
