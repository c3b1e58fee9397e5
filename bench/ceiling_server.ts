// The ceiling: a bare Deno.serve handler that reads the body and answers, nothing else. Whatever
// it reaches under the load generator bounds what any Deno server can do on this machine. Prints
// its port on the first line of stdout.

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0] ?? 0),
  onListen: ({ port }) => Deno.stdout.writeSync(new TextEncoder().encode(`${port}\n`)),
}, async (request) => {
  await request.arrayBuffer();
  return new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
});

Deno.addSignalListener("SIGTERM", () => server.shutdown());
await server.finished;
