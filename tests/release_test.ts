// The release machinery, checked here so a broken workflow fails now and not on the next tag:
// both workflows against GitHub's workflow schema (offline), the release matrix and its order
// (smoke-test on every platform, then publish with SHA256SUMS and the changelog's notes), the
// notes extraction, and the smoke test itself against a stand-in for the binary.

import assert from "node:assert/strict";
import { validateWorkflow } from "@action-validator/core";
import { parse } from "yaml";
import denoJson from "../deno.json" with { type: "json" };
import { releaseNotes } from "../.ci/release_notes.ts";
import { compileFlags, MAIN } from "./helpers.ts";

const ROOT = new URL("..", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, ROOT));

Deno.test("every workflow is valid against GitHub's workflow schema", async () => {
  const names = [...Deno.readDirSync(new URL(".github/workflows/", ROOT))].map((e) => e.name);
  assert.deepEqual(names.sort(), ["ci.yml", "release.yml"]);
  for (const name of names) {
    const result = validateWorkflow(await read(`.github/workflows/${name}`));
    assert.deepEqual(result.errors, [], `${name}: ${JSON.stringify(result.errors, null, 1)}`);
  }
  // The validator does find mistakes: a misspelt key is one.
  const broken = (await read(".github/workflows/ci.yml")).replace("runs-on:", "runs_on:");
  assert.notDeepEqual(validateWorkflow(broken).errors, []);
});

Deno.test("release builds on each platform's own runner, smoke-tests, then publishes with checksums and notes", async () => {
  // deno-lint-ignore no-explicit-any
  const release = parse(await read(".github/workflows/release.yml")) as any;
  assert.deepEqual(release.on, { push: { tags: ["v*"] } });
  const build = release.jobs.build;
  const targets = Object.fromEntries(
    build.strategy.matrix.include.map((m: { target: string; runner: string }) => [
      m.target,
      m.runner,
    ]),
  );
  assert.deepEqual(targets, {
    "x86_64-unknown-linux-gnu": "ubuntu-latest",
    "aarch64-unknown-linux-gnu": "ubuntu-24.04-arm",
    "x86_64-apple-darwin": "macos-13",
    "aarch64-apple-darwin": "macos-14",
    "x86_64-pc-windows-msvc": "windows-latest",
  });
  const runs = build.steps.map((s: { run?: string }) => s.run ?? "").join("\n");
  assert.match(runs, /npm install -g deno@2\.9\.6/);
  assert.match(runs, /deno task compile/, "the same flags as the compile task");
  assert.ok(
    runs.indexOf("deno task compile") < runs.indexOf(".ci/smoke.ts"),
    "smoke test after compiling",
  );
  const upload = build.steps.findIndex((s: { uses?: string }) =>
    s.uses?.startsWith("actions/upload-artifact")
  );
  const smoke = build.steps.findIndex((s: { run?: string }) => s.run?.includes(".ci/smoke.ts"));
  assert.ok(smoke !== -1 && smoke < upload, "only a binary that passed is uploaded");
  const publish = release.jobs.publish;
  assert.equal(publish.needs, "build");
  const publishRuns = publish.steps.map((s: { run?: string }) => s.run ?? "").join("\n");
  assert.match(publishRuns, /sha256sum -- \* > SHA256SUMS/);
  assert.match(publishRuns, /cp install\.sh hero-relay\.service release\//);
  const gh = publish.steps.find((s: { uses?: string }) => s.uses?.startsWith("softprops/"));
  assert.equal(gh.with.body_path, "notes.md");
  // Asset names are the ones install.sh downloads.
  const installer = await read("install.sh");
  assert.match(installer, /asset="hero-relay-\$arch-\$os"/);
  assert.match(
    build.steps.map((s: { run?: string }) => s.run ?? "").join("\n"),
    /release\/hero-relay-\$\{\{ matrix\.target \}\}\$\{\{ matrix\.ext \}\}/,
  );
  // The CI binary job runs the subprocess tests against the compiled file.
  // deno-lint-ignore no-explicit-any
  const ci = parse(await read(".github/workflows/ci.yml")) as any;
  const binary = ci.jobs.binary.steps;
  assert.ok(binary.some((s: { run?: string }) => s.run === "deno task compile"));
  const tests = binary.find((s: { run?: string }) => s.run === "deno task test:binary");
  assert.equal(tests.env.HERO_RELAY_BINARY, "${{ github.workspace }}/dist/hero-relay");
});

Deno.test("release notes are the tag's CHANGELOG.md section, and a tag without one is refused", async () => {
  const changelog = await read("CHANGELOG.md");
  const notes = releaseNotes(changelog, denoJson.version);
  assert.ok(notes !== null && notes.length > 100, "deno.json's version has notes");
  assert.doesNotMatch(notes!, /^## /m, "only that section");
  const sample = "# Changelog\n\n## 0.2.0\n\n- New.\n\n## [0.1.0] - 2026-12-01\n\n- Old.\n";
  assert.equal(releaseNotes(sample, "0.2.0"), "- New.");
  assert.equal(releaseNotes(sample, "0.1.0"), "- Old.");
  assert.equal(releaseNotes(sample, "0.1"), null);
  assert.equal(releaseNotes(sample, "0.3.0"), null);
  const run = (tag: string) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", new URL(".ci/release_notes.ts", ROOT).pathname, tag],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const good = await run(`v${denoJson.version}`);
  assert.equal(good.code, 0);
  assert.equal(new TextDecoder().decode(good.stdout).trim(), notes);
  const wrong = await run("v99.0.0");
  assert.equal(wrong.code, 1);
  assert.match(new TextDecoder().decode(wrong.stderr), /not deno\.json's version/);
});

Deno.test({
  name: "the release smoke test passes a working binary and fails a broken one",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir();
    // Stand-ins for the compiled binary: main.ts with the binary's flags, and one that lies.
    const good = `${dir}/hero-relay`;
    await Deno.writeTextFile(
      good,
      `#!/bin/sh\nexec '${Deno.execPath()}' run ${
        (await compileFlags()).join(" ")
      } '${MAIN}' "$@"\n`,
      { mode: 0o755 },
    );
    const bad = `${dir}/broken`;
    await Deno.writeTextFile(bad, '#!/bin/sh\necho "hero-relay 0.0.0"\n', { mode: 0o755 });
    const smoke = (binary: string) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(".ci/smoke.ts", ROOT).pathname, binary],
        stdout: "piped",
        stderr: "piped",
      }).output();
    try {
      const passed = await smoke(good);
      const said = new TextDecoder().decode(passed.stdout);
      assert.equal(passed.code, 0, said + new TextDecoder().decode(passed.stderr));
      assert.match(
        said,
        new RegExp(`--version: hero-relay ${denoJson.version.replaceAll(".", "\\.")}`),
      );
      assert.match(said, /send-test all: \d+ events, every answer 200/);
      assert.match(said, /serve: stopped cleanly/);
      const failed = await smoke(bad);
      assert.equal(failed.code, 1);
      assert.match(new TextDecoder().decode(failed.stderr), /smoke test failed: --version printed/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
