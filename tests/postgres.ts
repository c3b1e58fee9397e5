// PostgreSQL for tests: the database HERO_RELAY_TEST_POSTGRES_URL names (`eval "$(.ci/postgres.sh)"`
// starts one on 127.0.0.1), with a fresh schema per test so tests never see each other's rows.

// @ts-types="@types/pg"
import pg from "pg";
import { writeStderr } from "../src/log.ts";

/** The test database's URL, or undefined when PostgreSQL tests are skipped. */
export const POSTGRES_URL: string | undefined = Deno.env.get("HERO_RELAY_TEST_POSTGRES_URL") ||
  undefined;

/** Why PostgreSQL tests are skipped, printed once per test file that has some. */
export function warnPostgresSkipped(file: string): void {
  if (POSTGRES_URL !== undefined) return;
  writeStderr(
    `${file}: HERO_RELAY_TEST_POSTGRES_URL is not set, so the PostgreSQL tests are ignored. ` +
      `Run them with: eval "$(.ci/postgres.sh)" && deno task test\n`,
  );
}

/** A schema of its own in the test database, and the URL that makes it the search path. */
export interface TestSchema {
  /** The schema's name, to qualify tables in {@linkcode TestSchema.query}. */
  name: string;
  url: string;
  /** Adds a query parameter to the URL, such as application_name. */
  urlWith(name: string, value: string): string;
  /** Runs SQL as the test user, outside any store. */
  query(sql: string): Promise<pg.QueryResult>;
  drop(): Promise<void>;
}

/** Creates an empty schema for one test. */
export async function freshSchema(): Promise<TestSchema> {
  if (POSTGRES_URL === undefined) throw new Error("HERO_RELAY_TEST_POSTGRES_URL is not set");
  const name = `t_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${name}`);
  const urlWith = (key: string, value: string) => {
    const url = new URL(POSTGRES_URL!);
    url.searchParams.set("options", `-c search_path=${name}`);
    url.searchParams.set(key, value);
    return url.toString();
  };
  return {
    name,
    url: urlWith("application_name", "hero-relay-test"),
    urlWith,
    query: (sql) => admin.query(sql),
    async drop() {
      await admin.query(`DROP SCHEMA ${name} CASCADE`);
      await admin.end();
    },
  };
}

/**
 * A TCP proxy on 127.0.0.1 in front of the test database, to take the database away from a
 * store and give it back: while cut, it drops open connections and closes new ones at once.
 */
export class TcpProxy {
  #listener: Deno.TcpListener;
  #target: { hostname: string; port: number };
  #pairs = new Set<[Deno.Conn, Deno.Conn]>();
  #pumps = new Set<Promise<void>>();
  #accepting: Promise<void>;
  #cut = false;
  port: number;

  constructor(target: { hostname: string; port: number }) {
    this.#target = target;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = this.#listener.addr.port;
    this.#accepting = this.#accept();
  }

  /** The test database's URL with this proxy as its host. */
  static urlThrough(url: string, proxy: TcpProxy): string {
    const parsed = new URL(url);
    parsed.hostname = "127.0.0.1";
    parsed.port = String(proxy.port);
    return parsed.toString();
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) {
        if (this.#cut) {
          client.close();
          continue;
        }
        let server: Deno.Conn;
        try {
          server = await Deno.connect(this.#target);
        } catch {
          client.close();
          continue;
        }
        const pair: [Deno.Conn, Deno.Conn] = [client, server];
        this.#pairs.add(pair);
        const pump = Promise.all([copy(client, server), copy(server, client)]).then(() => {
          this.#pairs.delete(pair);
          closeQuietly(client);
          closeQuietly(server);
        });
        this.#pumps.add(pump);
        pump.finally(() => this.#pumps.delete(pump));
      }
    } catch {
      // The listener was closed.
    }
  }

  /** Drops every open connection and refuses new ones until {@linkcode restore}. */
  cut(): void {
    this.#cut = true;
    for (const [a, b] of this.#pairs) (closeQuietly(a), closeQuietly(b));
  }

  restore(): void {
    this.#cut = false;
  }

  async close(): Promise<void> {
    this.#listener.close();
    this.cut();
    await this.#accepting;
    await Promise.all([...this.#pumps]);
  }
}

async function copy(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      let written = 0;
      while (written < n) written += await to.write(buffer.subarray(written, n));
    }
  } catch {
    // Either side closed.
  }
  closeQuietly(from);
  closeQuietly(to);
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
