// The relay's permissions and V8 flags are stated once: the permission set in deno.json and the
// compile task's flags. `deno task start` and `dev`, the subprocess tests and the workflows (which
// build with `deno task compile`) take them from there; these tests fail on any copy that drifts.

import assert from "node:assert/strict";
import { parse } from "yaml";
import denoJson from "../deno.json" with { type: "json" };
import { compileFlags, MAIN, relayCommand } from "./helpers.ts";

const ROOT = new URL("..", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, ROOT));

/** The runtime flags of a `deno run`/`deno compile` command line: the words before main.ts. */
function runtimeFlags(command: string): string[] {
  const words = command.split(/\s+/);
  const main = words.indexOf("main.ts");
  assert.ok(main > 2, `no main.ts in ${JSON.stringify(command)}`);
  return words.slice(2, main).filter((word, i, flags) =>
    word !== "--watch" && word !== "--output" && flags[i - 1] !== "--output"
  );
}

/** The compile task's flags: the one definition of how the relay runs. */
const RELAY_FLAGS = runtimeFlags(denoJson.tasks.compile);
const SET = RELAY_FLAGS.find((flag) => flag.startsWith("--permission-set="))
  ?.slice("--permission-set=".length) ?? "";
const V8_FLAGS = RELAY_FLAGS.find((flag) => flag.startsWith("--v8-flags="))
  ?.slice("--v8-flags=".length) ?? "";
const PERMISSION_SETS: Record<string, Record<string, unknown>> = denoJson.permissions;

Deno.test("the compile task names a permission set and V8 flags, and no permission flag of its own", () => {
  const own = RELAY_FLAGS.filter((flag) => /^(-A|-P|--allow-|--deny-)/.test(flag));
  assert.deepEqual(own, [], "permissions come from the set alone");
  assert.ok(PERMISSION_SETS[SET], `no permission set "${SET}" in deno.json`);
  assert.ok(V8_FLAGS, "no --v8-flags");
  for (const never of ["all", "run", "ffi"]) assert.ok(!(never in PERMISSION_SETS[SET]!), never);
});

Deno.test("every task that runs the relay uses the compile task's flags", () => {
  const relayTasks = Object.entries(denoJson.tasks).filter(([, command]) =>
    /^deno compile /.test(command) || /\bmain\.ts serve\b/.test(command)
  );
  assert.deepEqual(relayTasks.map(([name]) => name).sort(), ["compile", "dev", "start"]);
  for (const [name, command] of relayTasks) {
    assert.deepEqual(runtimeFlags(command), RELAY_FLAGS, `task "${name}"`);
  }
});

Deno.test("the workflows and CI scripts build with `deno task compile` and state no relay flags", async () => {
  for (const entry of Deno.readDirSync(new URL(".github/workflows/", ROOT))) {
    const workflow = parse(await read(`.github/workflows/${entry.name}`)) as {
      jobs: Record<string, { steps: { run?: string }[] }>;
    };
    for (const [job, { steps }] of Object.entries(workflow.jobs)) {
      for (const { run = "" } of steps) {
        assert.doesNotMatch(run, /deno compile|--v8-flags|--permission-set|main\.ts/, job);
      }
    }
  }
  for (const entry of Deno.readDirSync(new URL(".ci/", ROOT))) {
    const text = await read(`.ci/${entry.name}`);
    assert.doesNotMatch(text, /deno compile|--v8-flags|--permission-set/, entry.name);
  }
});

Deno.test("the subprocess tests run main.ts with the compile task's flags, or the binary", async () => {
  assert.deepEqual(await compileFlags(), RELAY_FLAGS);
  const relay = await relayCommand(["--version"]);
  const binary = Deno.env.get("HERO_RELAY_BINARY");
  if (binary) assert.deepEqual(relay, { command: binary, args: ["--version"] });
  else assert.deepEqual(relay.args, ["run", ...RELAY_FLAGS, MAIN, "--version"]);
});

Deno.test("the compile task's flags grant exactly the permission set, and V8 takes its flags", async () => {
  const dir = await Deno.makeTempDir();
  const probe = `${dir}/probe.ts`;
  await Deno.writeTextFile(
    probe,
    `const names = ["net", "read", "write", "env", "sys", "run", "ffi"] as const;
const states: Record<string, string> = {};
for (const name of names) states[name] = (await Deno.permissions.query({ name })).state;
console.log(JSON.stringify(states));
`,
  );
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      // A file outside the project finds no deno.json by itself; main.ts finds this one.
      args: ["run", "--config", new URL("deno.json", ROOT).pathname, ...RELAY_FLAGS, probe],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    // A misspelt V8 flag makes deno exit 1 ("V8 did not recognize flag").
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const states = JSON.parse(new TextDecoder().decode(output.stdout));
    for (const [name, state] of Object.entries(states)) {
      assert.equal(state, name in PERMISSION_SETS[SET]! ? "granted" : "prompt", name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("README gives the reason for each permission of the set and for the V8 flags", async () => {
  const readme = await read("README.md");
  assert.ok(readme.includes(`--permission-set=${SET}`), "README names the permission set");
  for (const name of Object.keys(PERMISSION_SETS[SET]!)) {
    assert.match(readme, new RegExp(`^- \`${name}\`: \\S`, "m"), `README's reason for ${name}`);
  }
  assert.ok(readme.includes(V8_FLAGS), "README names the V8 flags");
});
