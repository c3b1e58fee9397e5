// install.sh as a user runs it, against a local HTTP server holding fake release files: a good
// release, one whose binary was damaged on the way, and one without this machine's binary.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";

const INSTALL = new URL("../install.sh", import.meta.url).pathname;
const ARCH = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
const OS = Deno.build.os === "darwin" ? "apple-darwin" : "unknown-linux-gnu";
const ASSET = `hero-relay-${ARCH}-${OS}`;
/** Stands in for the compiled binary: the installer runs `--version` before installing it. */
const FAKE_BINARY = '#!/bin/sh\n[ "$1" = --version ] && echo "hero-relay 9.9.9"\n';

function sums(entries: Record<string, string>): string {
  return Object.entries(entries).map(([name, body]) =>
    `${createHash("sha256").update(body).digest("hex")}  ${name}\n`
  ).join("");
}

/** Release folders on a local server: /good/, /damaged/ and /incomplete/. */
function releases(): Deno.HttpServer<Deno.NetAddr> {
  const files: Record<string, string> = {
    [`/good/${ASSET}`]: FAKE_BINARY,
    "/good/SHA256SUMS": sums({
      [ASSET]: FAKE_BINARY,
      "hero-relay-x86_64-pc-windows-msvc.exe": "x",
    }),
    [`/damaged/${ASSET}`]: FAKE_BINARY.replace("9.9.9", "6.6.6"),
    "/damaged/SHA256SUMS": sums({ [ASSET]: FAKE_BINARY }),
    "/incomplete/SHA256SUMS": sums({ "hero-relay-x86_64-pc-windows-msvc.exe": "x" }),
  };
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const body = files[new URL(request.url).pathname];
    return body === undefined ? new Response("Not Found", { status: 404 }) : new Response(body);
  });
}

async function install(base: string, prefix: string) {
  const output = await new Deno.Command("sh", {
    args: [INSTALL],
    env: { HERO_RELAY_BASE_URL: base, PREFIX: prefix },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("install.sh installs a release binary whose checksum matches, and nothing else", async (t) => {
  const server = releases();
  const origin = `http://127.0.0.1:${server.addr.port}`;
  const prefix = await Deno.makeTempDir();
  const binary = `${prefix}/bin/hero-relay`;
  try {
    await t.step(
      "a good release is installed, runs, and the next commands are printed",
      async () => {
        const result = await install(`${origin}/good`, prefix);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(await Deno.readTextFile(binary), FAKE_BINARY);
        assert.equal((await Deno.stat(binary)).mode! & 0o111, 0o111, "executable");
        assert.match(result.stdout, new RegExp(`hero-relay 9\\.9\\.9 installed to ${binary}`));
        assert.match(result.stdout, /hero-relay check --config config\.json/);
        assert.match(result.stdout, /hero-relay serve --config config\.json/);
      },
    );

    await t.step("a damaged download is refused and the installed binary stays", async () => {
      const result = await install(`${origin}/damaged`, prefix);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`checksum mismatch for ${ASSET}`));
      assert.match(result.stderr, /nothing installed/);
      assert.equal(await Deno.readTextFile(binary), FAKE_BINARY, "the good one is untouched");
    });

    await t.step("a release without this machine's binary says which file is missing", async () => {
      const fresh = await Deno.makeTempDir();
      const result = await install(`${origin}/incomplete`, fresh);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`cannot download ${origin}/incomplete/${ASSET}`));
      assert.deepEqual([...Deno.readDirSync(fresh)], [], "nothing was created");
      await Deno.remove(fresh, { recursive: true });
    });

    await t.step("a release folder that does not exist names the URL", async () => {
      const fresh = await Deno.makeTempDir();
      const result = await install(`${origin}/v0.0.0`, fresh);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`cannot download ${origin}/v0\\.0\\.0/SHA256SUMS`));
      await Deno.remove(fresh, { recursive: true });
    });
  } finally {
    await server.shutdown();
    await Deno.remove(prefix, { recursive: true });
  }
});
