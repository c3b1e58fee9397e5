// The benchmark's delivery sink: a tiny HTTP server on 127.0.0.1 that reads each request's body,
// answers 200 and counts it. `GET /stats` tells the count and the times of the first and last
// delivery; `POST /reset` starts counting again. Prints its port on the first line of stdout.

let count = 0;
let first = 0;
let last = 0;

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => Deno.stdout.writeSync(new TextEncoder().encode(`${port}\n`)),
}, async (request) => {
  const { pathname } = new URL(request.url);
  if (pathname === "/stats") return Response.json({ count, first, last });
  if (pathname === "/reset") {
    count = first = last = 0;
    return Response.json({ ok: true });
  }
  await request.arrayBuffer();
  const now = Date.now();
  if (count === 0) first = now;
  last = now;
  count++;
  return new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
});

Deno.addSignalListener("SIGTERM", () => server.shutdown());
await server.finished;
