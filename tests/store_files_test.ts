// The store's files belong to SQLite alone. A relay whose config sits beside its database (a
// common layout) must keep its locks on that database while the CLI works on the same store, and
// lose nothing across SIGKILL; a second relay reaching the database by another name (a symlink,
// a hard link) is refused; a full disk is reported with SQLite's own reason and makes /readyz
// answer 503 until a write succeeds again.

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  FakeServer,
  freePort,
  freshSample,
  runCli,
  SECRET,
  ServeProcess,
  signed,
} from "./helpers.ts";

/** A folder holding config.json and relay.db side by side, delivering to `sinkUrl`. */
async function besideConfig(
  sinkUrl: string,
  dir?: string,
): Promise<{ dir: string; path: string; db: string; base: string }> {
  dir ??= await Deno.makeTempDir();
  const port = freePort();
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      listen: { hostname: "127.0.0.1", port },
      influencer_hero: { signing_secrets: [SECRET] },
      store: { sqlite: `${dir}/relay.db` },
      destinations: {
        sink: { type: "http", url: sinkUrl, ordered: false, retry: { schedule: ["0s", "50ms"] } },
      },
      routes: [{ name: "all", events: "*", to: ["sink"] }],
    }),
  );
  await Deno.chmod(path, 0o600);
  return { dir, path, db: `${dir}/relay.db`, base: `http://127.0.0.1:${port}` };
}

type Setup = Awaited<ReturnType<typeof besideConfig>>;

/**
 * Runs `work` against a relay serving a config beside its database (in `dir`, or a new folder
 * removed afterwards), then checks that it stops cleanly.
 */
async function withRelay(
  work: (setup: Setup, relay: ServeProcess, sink: FakeServer) => Promise<void>,
  dir?: string,
): Promise<void> {
  const sink = new FakeServer();
  const setup = await besideConfig(sink.url, dir);
  const relay = await ServeProcess.start(setup.path);
  try {
    await work(setup, relay, sink);
    assert.equal(await relay.stop(), 0);
  } finally {
    await relay.stop();
    await sink.close();
    if (dir === undefined) await Deno.remove(setup.dir, { recursive: true });
  }
}

/** Posts `count` signed events, `parallel` at a time; resolves with the ids acknowledged. */
async function send(base: string, count: number, from: number, parallel = 4): Promise<string[]> {
  const acked: string[] = [];
  let next = from;
  const worker = async () => {
    while (next < from + count) {
      const n = next++;
      const { body, headers } = await signed(
        freshSample("product_sent", { n, collab_id: `c${n}` }),
      );
      const response = await fetch(`${base}/hooks/product_sent`, { method: "POST", headers, body });
      const answer = await response.json();
      assert.equal(response.status, 200, JSON.stringify(answer));
      acked.push(answer.id);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return acked;
}

/** Reads the stored event ids and the integrity check of a database no relay has open. */
function inspect(path: string): { ids: Set<string>; integrity: string } {
  const db = new DatabaseSync(path);
  try {
    const ids = new Set(
      (db.prepare("SELECT id FROM events").all() as Array<{ id: string }>).map((r) => r.id),
    );
    const integrity = (db.prepare("PRAGMA integrity_check").all() as Array<
      Record<string, string>
    >).map((r) => Object.values(r)[0]).join("; ");
    return { ids, integrity };
  } finally {
    db.close();
  }
}

/** The POSIX locks process `pid` holds on the file with inode `ino`, from /proc/locks. */
async function posixLocks(pid: number, ino: number): Promise<string[]> {
  // Deno asks for --allow-all to read /proc/locks itself.
  const { stdout } = await new Deno.Command("cat", { args: ["/proc/locks"] }).output();
  return new TextDecoder().decode(stdout).split("\n").filter((line) => {
    const fields = line.trim().split(/\s+/);
    return fields[1] === "POSIX" && fields[4] === String(pid) &&
      fields[5]?.endsWith(`:${ino}`) === true;
  });
}

Deno.test("a config beside the database: CLI commands during load, SIGKILL and restart lose nothing", async () => {
  const sink = new FakeServer();
  const setup = await besideConfig(sink.url);
  let relay = await ServeProcess.start(setup.path);
  try {
    const acked = await send(setup.base, 300, 0);
    for (let i = 0; i < 2; i++) {
      const listed = await runCli(["deliveries", "--config", setup.path, "--limit", "5"]);
      assert.equal(listed.code, 0, listed.stderr);
    }
    acked.push(...await send(setup.base, 100, 300));
    relay.kill("SIGKILL");
    await relay.exited();
    relay = await ServeProcess.start(setup.path);
    acked.push(...await send(setup.base, 20, 400));
    assert.equal(await relay.stop(), 0);
    const { ids, integrity } = inspect(setup.db);
    assert.equal(integrity, "ok");
    const lost = acked.filter((id) => !ids.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged events were lost`);
  } finally {
    try {
      relay.kill("SIGKILL");
    } catch {
      // already stopped
    }
    await relay.exited();
    await sink.close();
    await Deno.remove(setup.dir, { recursive: true });
  }
});

Deno.test({
  name: "the relay holds its lock on its own database after several checkpoints (Linux)",
  ignore: Deno.build.os !== "linux",
  fn: () =>
    withRelay(async (setup, relay) => {
      const { ino } = await Deno.stat(setup.db);
      assert.ok((await posixLocks(relay.pid, ino!)).length > 0, "locked at start");
      let checkpoints = 0;
      for (let round = 0; round < 4; round++) {
        await send(setup.base, 50, round * 50);
        // Another process checkpoints the WAL into the database, as `sqlite3` or the CLI may.
        const other = new DatabaseSync(setup.db);
        const [result] = other.prepare("PRAGMA wal_checkpoint(PASSIVE)").all() as Array<
          Record<string, number>
        >;
        other.close();
        // busy: the relay's own checkpoint was running; that one counts as well.
        if (result!["busy"] === 0) checkpoints++;
        assert.ok(
          (await posixLocks(relay.pid, ino!)).length > 0,
          `the relay holds a POSIX lock on its database after checkpoint ${round + 1}`,
        );
        // The other connection closing did not take the WAL away from the relay.
        await Deno.stat(`${setup.db}-wal`);
      }
      assert.ok(checkpoints > 0, "at least one checkpoint from outside ran");
      assert.equal(inspect(setup.db).ids.size, 200);
    }),
});

Deno.test({
  name: "a second relay on a symlink or a hard link to a database in use is refused",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withRelay(async (setup, _relay, sink) => {
      await send(setup.base, 5, 0);
      const { ino } = await Deno.stat(setup.db);
      for (const make of ["symlink", "link"] as const) {
        const other = await Deno.makeTempDir();
        const linked = `${other}/relay.db`;
        if (make === "symlink") await Deno.symlink(setup.db, linked);
        else await Deno.link(setup.db, linked);
        const second = await besideConfig(sink.url, other);
        const result = await runCli(["serve", "--config", second.path]);
        assert.equal(result.code, 1, `${make}: ${result.stdout}${result.stderr}`);
        const output = result.stdout + result.stderr;
        assert.match(output, /another relay is using the store/, make);
        assert.match(output, new RegExp(`inode ${ino}\\b`), make);
        if (make === "symlink") assert.ok(output.includes(Deno.realPathSync(setup.db)), output);
        await Deno.remove(other, { recursive: true });
      }
      // The first relay was not disturbed.
      assert.equal((await send(setup.base, 5, 5)).length, 5);
    }),
});

Deno.test({
  name: "a new database and its -wal and -shm are readable by their owner only",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withRelay(async (setup) => {
      await send(setup.base, 1, 0);
      for (const file of [setup.db, `${setup.db}-wal`, `${setup.db}-shm`]) {
        const { mode } = await Deno.stat(file);
        assert.equal((mode! & 0o777).toString(8), "600", file);
      }
    }),
});

/** Mounts a tmpfs of `size` at a new folder; null where that is not allowed (not root). */
async function smallDisk(size: string): Promise<{ dir: string; unmount(): Promise<void> } | null> {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return null;
  const dir = await Deno.makeTempDir();
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  if (!mounted.success) {
    await Deno.remove(dir);
    return null;
  }
  return {
    dir,
    async unmount() {
      await new Deno.Command("umount", { args: [dir] }).output();
      await Deno.remove(dir);
    },
  };
}

const disk = await smallDisk("4m");

Deno.test({
  name: "a full disk: SQLite's reason is logged, /readyz answers 503, and both recover",
  ignore: disk === null,
  fn: () =>
    withRelay(async (setup, relay) => {
      await send(setup.base, 5, 0);
      // Fill what is left of the disk.
      const filler = await Deno.open(`${disk!.dir}/filler`, { create: true, write: true });
      const block = new Uint8Array(64 * 1024);
      try {
        while (true) await filler.write(block);
      } catch {
        // ENOSPC: full
      } finally {
        filler.close();
      }
      let refused = 0;
      for (let n = 0; n < 200 && refused < 3; n++) {
        const { body, headers } = await signed(
          freshSample("product_sent", { n, collab_id: `f${n}`, note: "x".repeat(20_000) }),
        );
        const response = await fetch(`${setup.base}/hooks/product_sent`, {
          method: "POST",
          headers,
          body,
        });
        await response.body?.cancel();
        if (response.status >= 500) refused++;
      }
      assert.equal(refused, 3, "commits fail on the full disk");
      const notReady = await fetch(`${setup.base}/readyz`);
      await notReady.body?.cancel();
      assert.equal(notReady.status, 503);
      const logged = relay.logs.filter((l) => l.level === "error").map((l) => JSON.stringify(l));
      assert.ok(logged.some((l) => /database or disk is full/.test(l)), logged.join("\n"));
      assert.ok(!logged.some((l) => /cannot rollback/.test(l)), logged.join("\n"));
      await Deno.remove(`${disk!.dir}/filler`);
      const ready = await fetch(`${setup.base}/readyz`);
      await ready.body?.cancel();
      assert.equal(ready.status, 200, "ready again once a write succeeds");
      assert.equal((await send(setup.base, 3, 1000)).length, 3);
    }, disk!.dir),
});

if (disk !== null) {
  Deno.test("unmount the small disk", async () => await disk.unmount());
}

Deno.test("serve reads a relative *_file beside its config, wherever it is started from", async () => {
  const sink = new FakeServer();
  const setup = await besideConfig(sink.url);
  const config = JSON.parse(await Deno.readTextFile(setup.path));
  delete config.destinations.sink.url;
  config.destinations.sink.url_file = "sink-url.txt";
  await Deno.writeTextFile(setup.path, JSON.stringify(config));
  await Deno.writeTextFile(`${setup.dir}/sink-url.txt`, `${sink.url}/from-file\n`);
  const elsewhere = await Deno.makeTempDir();
  const relay = await ServeProcess.start(setup.path, { cwd: elsewhere });
  try {
    await send(setup.base, 1, 0);
    await sink.waitFor(1);
    assert.equal(sink.received[0]!.path, "/from-file");
    assert.equal(await relay.stop(), 0);
  } finally {
    await relay.stop();
    await sink.close();
    await Deno.remove(setup.dir, { recursive: true });
    await Deno.remove(elsewhere, { recursive: true });
  }
});
