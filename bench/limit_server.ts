// The limit reference: only the work a trustworthy relay cannot skip. Read the body, verify its
// HMAC-SHA256 with WebCrypto, commit it to SQLite with synchronous=FULL (events arriving together
// share one transaction), and answer only after the commit. No routing, logging, metrics or
// delivery. What it reaches bounds what hero-relay's intake can reach on this machine.
// Usage: deno run --allow-net --allow-read --allow-write bench/limit_server.ts <secret> <db>
// Prints its port on the first line of stdout.

import { DatabaseSync } from "node:sqlite";

const [secret, path] = Deno.args;
if (secret === undefined || path === undefined) throw new Error("usage: <secret> <db>");
const key = await crypto.subtle.importKey(
  "raw",
  new TextEncoder().encode(secret),
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["verify"],
);
const db = new DatabaseSync(path);
db.exec("PRAGMA journal_mode = WAL");
db.exec("PRAGMA synchronous = FULL");
db.exec("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
const insert = db.prepare("INSERT INTO events (body) VALUES (?)");

let waiting: Array<{ body: string; done: () => void }> = [];
function flush(): void {
  const batch = waiting;
  waiting = [];
  db.exec("BEGIN");
  for (const item of batch) insert.run(item.body);
  db.exec("COMMIT");
  for (const item of batch) item.done();
}

function hexBytes(hex: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[0-9a-f]{64}$/i.test(hex)) return null;
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => Deno.stdout.writeSync(new TextEncoder().encode(`${port}\n`)),
}, async (request) => {
  const body = new Uint8Array(await request.arrayBuffer());
  const signature = hexBytes(request.headers.get("x-influencerhero-signature") ?? "");
  if (signature === null || !(await crypto.subtle.verify("HMAC", key, signature, body))) {
    return new Response('{"ok":false}', { status: 401 });
  }
  await new Promise<void>((done) => {
    waiting.push({ body: new TextDecoder().decode(body), done });
    if (waiting.length === 1) setTimeout(flush, 0);
  });
  return new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
});

Deno.addSignalListener("SIGTERM", () => server.shutdown());
await server.finished;
db.close();
