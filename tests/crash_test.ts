// The crash test: a real relay process, started with the compiled binary's permission flags,
// receives a burst of signed events and is killed with SIGKILL at random moments, several
// times. Every event that got a 2xx must be delivered at least once, and duplicates may not
// exceed what was in flight at each kill.

import assert from "node:assert/strict";
import {
  eventually,
  FakeServer,
  freePort,
  freshSample,
  relayCommand,
  SECRET,
  signed,
} from "./helpers.ts";

const KILLS = 3;
const CONCURRENCY = 4;

/** A deterministic PRNG, so a failing run can be repeated. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test({
  name: "no acknowledged event is lost when the relay is killed with SIGKILL mid-burst, repeatedly",
  async fn() {
    const seed = Number(Deno.env.get("CRASH_SEED") ?? Date.now() % 100_000);
    const random = mulberry32(seed);
    const dir = await Deno.makeTempDir();
    const received = new Map<string, number>();
    const sink = new FakeServer(async (request) => {
      await new Promise((resolve) => setTimeout(resolve, 5 + random() * 10));
      const id = JSON.parse(request.body).id as string;
      received.set(id, (received.get(id) ?? 0) + 1);
      return { status: 200 };
    });
    const port = freePort();
    const configPath = `${dir}/config.json`;
    await Deno.writeTextFile(
      configPath,
      JSON.stringify({
        listen: { hostname: "127.0.0.1", port },
        influencer_hero: { signing_secrets: [SECRET] },
        store: { sqlite: `${dir}/relay.db` },
        destinations: {
          sink: {
            type: "http",
            url: sink.url,
            concurrency: CONCURRENCY,
            ordered: false,
            retry: { schedule: ["0s", "100ms"], max_attempts: 1000 },
          },
        },
        routes: [{ name: "all", events: "*", to: ["sink"] }],
      }),
    );
    const base = `http://127.0.0.1:${port}`;
    const start = async () => {
      const relay = await relayCommand(["serve", "--config", configPath]);
      const child = new Deno.Command(relay.command, {
        args: relay.args,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      await eventually(
        async () => {
          try {
            const response = await fetch(`${base}/healthz`);
            await response.body?.cancel();
            return response.ok;
          } catch {
            return false;
          }
        },
        30_000,
        "the relay to start",
      );
      return child;
    };

    const acked = new Set<string>();
    let sending = true;
    let sent = 0;
    const sender = async () => {
      while (sending) {
        const n = sent++;
        const type = ["update_commission", "new_influencer_order", "product_sent"][n % 3]!;
        const { body, headers } = await signed(freshSample(type, { n, collab_id: `c${n % 7}` }));
        try {
          const response = await fetch(`${base}/hooks/${type}`, { method: "POST", headers, body });
          const answer = await response.json();
          if (response.status === 200 && answer.duplicate === false) acked.add(answer.id);
        } catch {
          // The relay is down: nothing was acknowledged, the sender would retry.
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };

    let child = await start();
    const senders = Array.from({ length: 6 }, sender);
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        await new Promise((resolve) => setTimeout(resolve, 300 + random() * 700));
        child.kill("SIGKILL");
        await child.status;
        await child.stderr.cancel();
        child = await start();
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      sending = false;
      await Promise.all(senders);
      assert.ok(acked.size > 50, `a real burst was acknowledged (${acked.size}, seed ${seed})`);
      await eventually(
        () => [...acked].every((id) => received.has(id)),
        60_000,
        "every acked event",
      );
      const duplicates = [...received.values()].reduce((sum, count) => sum + count - 1, 0);
      assert.ok(
        duplicates <= KILLS * CONCURRENCY,
        `${duplicates} duplicates, at most ${KILLS * CONCURRENCY} allowed (seed ${seed})`,
      );
      Deno.stdout.writeSync(new TextEncoder().encode(
        `crash test: ${acked.size} acknowledged, ${KILLS} kills, ${duplicates} duplicates, seed ${seed}\n`,
      ));
      child.kill("SIGTERM");
      const status = await child.status;
      assert.equal(status.code, 0, "SIGTERM stops the relay gracefully");
      await child.stderr.cancel();
    } finally {
      sending = false;
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await sink.close();
    }
  },
});
