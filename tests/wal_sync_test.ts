// The off-thread WAL flush behind group commit, and the SQLite store that uses it.

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../src/store_sqlite.ts";
import { WalSync } from "../src/wal_sync.ts";

function walDatabase(dir: string): DatabaseSync {
  const db = new DatabaseSync(`${dir}/test.db`);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("CREATE TABLE t (x)");
  return db;
}

Deno.test("WalSync.find() is null for a database without a WAL file", async () => {
  const dir = await Deno.makeTempDir();
  assert.equal(WalSync.find(`${dir}/missing.db`), null);
  const db = new DatabaseSync(`${dir}/rollback.db`);
  db.exec("CREATE TABLE t (x)");
  assert.equal(WalSync.find(`${dir}/rollback.db`), null);
  db.close();
});

Deno.test("WalSync.find() follows a symlink to the WAL file SQLite writes", async () => {
  const dir = await Deno.makeTempDir();
  const db = walDatabase(dir);
  await Deno.symlink(`${dir}/test.db`, `${dir}/link.db`);
  const wal = WalSync.find(`${dir}/link.db`);
  assert.notEqual(wal, null);
  await wal!.sync();
  await wal!.close();
  db.close();
});

Deno.test("WalSync.sync() callers arriving during a flush share the next flush", async () => {
  const dir = await Deno.makeTempDir();
  const db = walDatabase(dir);
  const wal = WalSync.find(`${dir}/test.db`)!;
  const first = wal.sync();
  db.exec("INSERT INTO t VALUES (1)");
  const second = wal.sync();
  db.exec("INSERT INTO t VALUES (2)");
  const third = wal.sync();
  assert.notEqual(first, second, "a flush already running may have started before the commit");
  assert.equal(second, third);
  await Promise.all([first, second, third]);
  await wal.settled();
  await wal.close();
  db.close();
});

Deno.test("a file store flushes through WalSync, keeps synchronous=FULL and keeps its events", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/relay.db`;
  const store = SqliteStore.open(path);
  assert.equal(store.synchronous(), 2);
  const events = Array.from({ length: 3 }, (_, i) => ({
    id: `evt_${i}`,
    type: "update_commission",
    receivedAt: 1_700_000_000_000 + i,
    body: `{"n":${i}}`,
    fingerprint: `fingerprint-${i}`,
    orderKey: null,
  }));
  const results = await Promise.all([
    store.insertEvents(events.slice(0, 2)),
    store.insertEvents(events.slice(2)),
  ]);
  assert.deepEqual(results.flat().map((r) => r.duplicate), [false, false, false]);
  assert.equal(store.synchronous(), 2, "the NORMAL used inside a commit never leaks out");
  assert.equal((await store.unroutedEvents(10)).length, 3);
  await store.close();
  const reopened = SqliteStore.open(path);
  assert.deepEqual((await reopened.unroutedEvents(10)).map((e) => e.id), [
    "evt_0",
    "evt_1",
    "evt_2",
  ]);
  await reopened.close();
});
