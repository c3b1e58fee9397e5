// The shape of the code, as `deno info` sees it: the receive step (server.ts) pulls in none of
// the delivery side, and no module imports itself through others.

import assert from "node:assert/strict";

interface Module {
  specifier: string;
  dependencies?: Array<{ code?: { specifier: string }; type?: { specifier: string } }>;
}

async function graph(entry: string): Promise<Module[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(entry, import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout)).modules;
}

const local = (specifier: string) =>
  specifier.startsWith("file://") ? specifier.replace(/^.*\/work\/[^/]+\//, "") : specifier;

Deno.test("the receive step's module graph has no destination, template engine, mailer or schema library", async () => {
  const modules = (await graph("../src/server.ts")).map((m) => m.specifier);
  const names = modules.map((m) => m.slice(m.lastIndexOf("/") + 1));
  assert.ok(names.includes("verify.ts") && names.includes("store.ts"), names.join(", "));
  const heavy = modules.filter((m) =>
    /\/(destination[^/]*|template|message|worker|compile|config)\.ts$/.test(m) ||
    /liquidjs|nodemailer|zod/.test(m)
  );
  assert.deepEqual(heavy, [], "server.ts must not pull these in");
});

Deno.test("no module of the relay imports itself through others", async () => {
  const modules = await graph("../main.ts");
  const edges = new Map<string, string[]>();
  for (const m of modules) {
    if (!m.specifier.startsWith("file://")) continue;
    edges.set(
      m.specifier,
      (m.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier])
        .filter((s): s is string => s !== undefined && s.startsWith("file://")),
    );
  }
  assert.ok(edges.size > 30, `only ${edges.size} local modules found`);
  // Depth-first search; a grey node met again closes a cycle.
  const state = new Map<string, "grey" | "black">();
  const cycles: string[] = [];
  const visit = (node: string, path: string[]) => {
    state.set(node, "grey");
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === "grey") {
        cycles.push([...path.slice(path.indexOf(next)), next].map(local).join(" → "));
      } else if (!state.has(next)) visit(next, [...path, next]);
    }
    state.set(node, "black");
  };
  for (const node of edges.keys()) if (!state.has(node)) visit(node, [node]);
  assert.deepEqual(cycles, []);
});
