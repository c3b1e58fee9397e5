// What only PostgreSQL has to get right, beyond the shared contract (store_contract_test.ts):
// several relays on one database, a database that goes away, and a URL that holds a password.

import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../src/config.ts";
import type { NewEvent } from "../src/store.ts";
import { PostgresStore } from "../src/store_postgres.ts";
import { relayCommand, SECRET } from "./helpers.ts";
import { freshSchema, POSTGRES_URL, TcpProxy, warnPostgresSkipped } from "./postgres.ts";

warnPostgresSkipped("store_postgres_test.ts");
const ignore = POSTGRES_URL === undefined;
const T = 1_700_000_000_000;

function events(count: number): NewEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const id = `evt_${i}_${crypto.randomUUID().slice(0, 8)}`;
    return {
      id,
      type: "new_content",
      receivedAt: T + i,
      body: `{"i":${i}}`,
      fingerprint: `fp-${id}`,
      orderKey: null,
    };
  });
}

Deno.test({
  name: "PostgresStore: two stores routing the same events at once create each delivery once",
  ignore,
  async fn() {
    const schema = await freshSchema();
    const [a, b] = await Promise.all([
      PostgresStore.open(schema.url),
      PostgresStore.open(schema.url),
    ]);
    try {
      const stored = events(20);
      await a.insertEvents(stored);
      // Both relays' routers see the same unrouted events and route them with their own ids.
      const route = (prefix: string) =>
        stored.map((event) => ({
          eventId: event.id,
          deliveries: [{
            id: `${prefix}_${event.id}`,
            eventId: event.id,
            destination: "slack",
            route: "main",
            orderKey: null,
          }],
        }));
      await Promise.all([a.routeEvents(route("dlv_a"), T), b.routeEvents(route("dlv_b"), T)]);
      await b.routeEvents(route("dlv_late"), T + 1);
      const deliveries = await a.listDeliveries({});
      assert.equal(deliveries.length, 20);
      assert.equal(new Set(deliveries.map((d) => d.eventId)).size, 20);
      assert.deepEqual(await b.unroutedEvents(100), []);
    } finally {
      await a.close();
      await b.close();
      await schema.drop();
    }
  },
});

Deno.test({
  name: "PostgresStore: release(null) releases only the leases taken through that store",
  ignore,
  async fn() {
    const schema = await freshSchema();
    const a = await PostgresStore.open(schema.url);
    const b = await PostgresStore.open(schema.url);
    try {
      const stored = events(2);
      await a.insertEvents(stored);
      await a.routeEvents(
        stored.map((e) => ({
          eventId: e.id,
          deliveries: [{
            id: `dlv_${e.id}`,
            eventId: e.id,
            destination: "slack",
            route: "main",
            orderKey: null,
          }],
        })),
        T,
      );
      const options = { now: T, limit: 1, leaseMs: 60_000, ordered: false };
      const [ofA] = await a.lease("slack", { ...options, owner: "worker-a" });
      const [ofB] = await b.lease("slack", { ...options, owner: "worker-b" });
      assert.ok(ofA && ofB);
      await b.release(null, T);
      const again = await a.lease("slack", { ...options, limit: 10, owner: "worker-c" });
      assert.deepEqual(again.map((d) => d.id), [ofB.id], "worker-a's lease still holds");
    } finally {
      await a.close();
      await b.close();
      await schema.drop();
    }
  },
});

Deno.test({
  name: "PostgresStore: opening keeps the server's durable synchronous_commit",
  ignore,
  async fn() {
    const schema = await freshSchema();
    const store = await PostgresStore.open(schema.url);
    try {
      assert.equal(store.synchronousCommit(), "on");
    } finally {
      await store.close();
      await schema.drop();
    }
  },
});

Deno.test({
  name: "PostgresStore: a database that drops its connections fails calls, then serves again",
  ignore,
  async fn() {
    const schema = await freshSchema();
    const target = new URL(POSTGRES_URL!);
    const proxy = new TcpProxy({ hostname: target.hostname, port: Number(target.port || 5432) });
    const store = await PostgresStore.open(TcpProxy.urlThrough(schema.url, proxy), {
      connectTimeoutMs: 2_000,
    });
    try {
      await store.insertEvents(events(1));
      proxy.cut();
      await assert.rejects(store.ping());
      await assert.rejects(store.insertEvents(events(1)));
      await assert.rejects(store.lease("slack", {
        now: T,
        limit: 1,
        leaseMs: 1,
        owner: "w",
        ordered: true,
      }));
      proxy.restore();
      await store.ping();
      await store.insertEvents(events(1));
      assert.equal((await store.listEvents({})).length, 2);
    } finally {
      await store.close();
      await proxy.close();
      await schema.drop();
    }
  },
});

Deno.test("PostgresStore.open() rejects without repeating the password when no server answers", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const error = await PostgresStore.open(`postgres://relay:s3cret-pw@127.0.0.1:${port}/relay`)
    .then(() => null, (e: Error) => e);
  assert.ok(error instanceof Error);
  assert.doesNotMatch(`${error.message} ${error.stack}`, /s3cret-pw/);
  const bad = await PostgresStore.open("mysql://relay:s3cret-pw@host/relay").then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(bad instanceof TypeError);
  assert.match(bad.message, /relay:\*\*\*@host/);
  assert.doesNotMatch(bad.message, /s3cret-pw/);
});

function configWithStore(store: unknown, env: Record<string, string> = {}) {
  return parseConfig(
    JSON.stringify({
      influencer_hero: { signing_secrets: [SECRET] },
      store,
      destinations: {},
      routes: [],
    }),
    "relay.json",
    { env: (name) => env[name] },
  );
}

Deno.test("parseConfig() takes store.postgres from the environment", () => {
  const config = configWithStore(
    { postgres: "${DATABASE_URL}" },
    { DATABASE_URL: "postgres://relay:s3cret-pw@db.internal:5432/relay" },
  );
  assert.equal(config.store.postgres, "postgres://relay:s3cret-pw@db.internal:5432/relay");
  assert.equal(config.store.sqlite, undefined);
});

Deno.test("parseConfig() rejects store.sqlite and store.postgres together, naming the path", () => {
  assert.throws(
    () => configWithStore({ sqlite: "./data/relay.db", postgres: "postgres://db/relay" }),
    (error: ConfigError) => {
      assert.deepEqual(error.problems, ['store.postgres: set "sqlite" or "postgres", not both']);
      return true;
    },
  );
});

Deno.test("parseConfig() rejects a store.postgres that is not a postgres:// URL without repeating it", () => {
  assert.throws(
    () => configWithStore({ postgres: "mysql://relay:s3cret-pw@db/relay" }),
    (error: ConfigError) => {
      assert.deepEqual(error.problems, [
        "store.postgres: expected a postgres:// or postgresql:// URL",
      ]);
      assert.doesNotMatch(error.message, /s3cret-pw/);
      return true;
    },
  );
});

Deno.test("hero-relay check shows the PostgreSQL store with its password masked", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/relay.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        influencer_hero: { signing_secrets: [SECRET] },
        store: { postgres: "${DATABASE_URL}" },
        destinations: { console: { type: "console" } },
        routes: [{ name: "all", events: "*", to: ["console"] }],
      }),
    );
    const relay = await relayCommand(["check", "--config", path]);
    const output = await new Deno.Command(relay.command, {
      args: relay.args,
      env: { DATABASE_URL: "postgres://relay:s3cret-pw@db.internal:5432/relay?sslmode=require" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.match(stdout, /Store: postgres postgres:\/\/relay:\*\*\*@db\.internal:5432\/relay\n/);
    assert.doesNotMatch(stdout + stderr, /s3cret-pw/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
