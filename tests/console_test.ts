// The operator console over plain HTTP on a real admin listener with a real SQLite store:
// sign-in and its cookie, sessions that end, CSRF and origin checks, the security headers, every
// page rendered from seeded data, and the forms acting on the store.

import assert from "node:assert/strict";
import { compileConfigLoading, type Runtime } from "../src/compile.ts";
import { configSecrets } from "../src/config.ts";
import { type AdminServer, startAdmin } from "../src/admin.ts";
import { CONTENT_SECURITY_POLICY, SESSION_COOKIE } from "../src/console/console.ts";
import type { ReloadResult } from "../src/console/options.ts";
import { Redactor } from "../src/redact.ts";
import { SAMPLES } from "../src/samples.ts";
import type { NewEvent } from "../src/store.ts";
import { SqliteStore } from "../src/store_sqlite.ts";
import { FakeServer, LogCapture, testConfig } from "./helpers.ts";

const TOKEN = "console-token-for-tests-5d2a9e";
/** A secret of the config that an attempt's error repeats: the console must not show it. */
const SINK_TOKEN = "sinktoken-3f9a7c21b4";
const HOUR = 3_600_000;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** A console on a real admin listener, a store with one event and two deliveries, and a browser. */
async function consoleFixture(options: { lifetimeMs?: number } = {}) {
  const dir = await Deno.makeTempDir();
  const sink = new FakeServer(() => ({ status: 200, body: "ok" }));
  const config = testConfig(dir, {
    admin: { port: 0, token: TOKEN },
    destinations: {
      sink: { type: "http", url: `${sink.url}/hook?token=${SINK_TOKEN}` },
      crm: { type: "http", url: `${sink.url}/crm` },
      spare: { type: "http", url: `${sink.url}/spare`, enabled: false },
    },
    routes: [{ name: "all", events: "*", to: ["sink", "crm"] }],
  });
  const runtime: Runtime = await compileConfigLoading(config, "test config", { write: () => {} });
  const store = SqliteStore.open(`${dir}/relay.db`);
  const redactor = new Redactor();
  redactor.set(configSecrets(config));
  const logs = new LogCapture();
  let clock = Date.now();
  const calls = { replayed: 0, enabled: 0, paused: 0 };
  let reload: ReloadResult | null = null;
  const seeded = await seed(store, clock);
  const admin: AdminServer = await startAdmin({
    hostname: "127.0.0.1",
    port: 0,
    token: TOKEN,
    store,
    destinations: () =>
      [...runtime.destinations].map(([name, d]) => ({
        name,
        type: d.destination.type,
        enabled: d.enabled,
      })),
    replayed: () => calls.replayed++,
    enabled: () => Promise.resolve(void calls.enabled++),
    redactor,
    log: logs.logger,
    console: {
      store,
      runtime: () => runtime,
      redactor,
      log: logs.logger,
      destinationStates: () => new Map(),
      lastReload: () => reload,
      replayed: () => calls.replayed++,
      enabled: () => Promise.resolve(void calls.enabled++),
      paused: () => Promise.resolve(void calls.paused++),
      now: () => clock,
      ...(options.lifetimeMs !== undefined ? { sessionLifetimeMs: options.lifetimeMs } : {}),
    },
  });
  const request = async (
    path: string,
    init: RequestInit & { cookie?: string | null } = {},
  ): Promise<Answer> => {
    const headers = new Headers(init.headers);
    if (init.cookie) headers.set("cookie", `${SESSION_COOKIE}=${init.cookie}`);
    const response = await fetch(`${admin.url}${path}`, { ...init, headers, redirect: "manual" });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };
  const signIn = async (headers: Record<string, string> = {}) => {
    const answer = await request("/ui/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams({ token: TOKEN, next: "/" }),
    });
    assert.equal(answer.status, 303, answer.text);
    const cookie = answer.headers.get("set-cookie") ?? "";
    return { answer, cookie, session: /hero_relay_session=([^;]+)/.exec(cookie)![1]! };
  };
  /** A signed-in browser: GETs pages and POSTs forms with the page's CSRF token. */
  const browser = async () => {
    const { session } = await signIn();
    const get = (path: string) => request(path, { cookie: session });
    const post = async (path: string, fields: Record<string, string>, from = "/") => {
      const csrf = csrfOf((await get(from)).text);
      return request(path, {
        method: "POST",
        cookie: session,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf, ...fields }),
      });
    };
    return { session, get, post };
  };
  const close = async () => {
    await admin.stop();
    await store.close();
    await sink.close();
    await Deno.remove(dir, { recursive: true });
  };
  return {
    admin,
    store,
    sink,
    logs,
    calls,
    seeded,
    request,
    signIn,
    browser,
    close,
    setReload: (r: ReloadResult) => reload = r,
    advance: (ms: number) => clock += ms,
  };
}

/**
 * One payout request delivered to crm and dead at sink (its error quoting the sink's secret),
 * and 54 older orders with one pending delivery each: more than one page of events.
 */
async function seed(store: SqliteStore, now: number) {
  const body = JSON.stringify({ ...SAMPLES["new_payout_request"], padding: "x".repeat(300) });
  const event: NewEvent = {
    id: "evt_payout",
    type: "new_payout_request",
    receivedAt: now - 60_000,
    body,
    fingerprint: "f".repeat(64),
    orderKey: "DEAL-67890",
    deliveries: [
      { id: "dlv_sink", eventId: "evt_payout", destination: "sink", route: "all", orderKey: null },
      { id: "dlv_crm", eventId: "evt_payout", destination: "crm", route: "all", orderKey: null },
    ],
    facets: { dealId: "DEAL-67890", collabId: null, influencer: "Dwayne Johnson" },
  };
  const older: NewEvent[] = Array.from({ length: 54 }, (_, i) => ({
    id: `evt_order_${String(i).padStart(2, "0")}`,
    type: "new_influencer_order",
    receivedAt: now - 2 * HOUR - i * 1000,
    body: JSON.stringify({ ...SAMPLES["new_influencer_order"], n: i }),
    fingerprint: String(i).padStart(64, "0"),
    orderKey: null,
    deliveries: [{
      id: `dlv_order_${i}`,
      eventId: `evt_order_${String(i).padStart(2, "0")}`,
      destination: "crm",
      route: "all",
      orderKey: null,
    }],
    facets: { dealId: "deal12345", collabId: null, influencer: "Dwayne Johnson" },
  }));
  await store.insertEvents([event, ...older]);
  const leaseOptions = { now, limit: 10, leaseMs: 60_000, owner: "test", ordered: false };
  const [sinkLease] = await store.lease("sink", leaseOptions);
  const crmLeases = await store.lease("crm", { ...leaseOptions, limit: 100 });
  const crm = crmLeases.find((d) => d.id === "dlv_crm")!;
  await store.complete([
    {
      deliveryId: sinkLease!.id,
      status: "dead",
      attempts: 1,
      nextAt: now,
      lastError: `HTTP 500: upstream said ${SINK_TOKEN} is bad`,
      attempt: {
        deliveryId: sinkLease!.id,
        at: now - 30_000,
        ms: 120,
        outcome: "dead",
        httpStatus: 500,
        error: `HTTP 500: upstream said ${SINK_TOKEN} is bad`,
      },
    },
    {
      deliveryId: crm.id,
      status: "delivered",
      attempts: 1,
      nextAt: now,
      lastError: null,
      attempt: {
        deliveryId: crm.id,
        at: now - 29_000,
        ms: 80,
        outcome: "delivered",
        httpStatus: 200,
        error: null,
      },
    },
  ]);
  await store.release(crmLeases.filter((d) => d.id !== crm.id).map((d) => d.id), now);
  return { event };
}

function csrfOf(html: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(html);
  assert.ok(match, "the page has a CSRF field");
  return match[1]!;
}

const PAGES = [
  "/",
  "/ui/events",
  "/ui/events?type=new_influencer_order&status=pending&destination=crm&deal=deal12345&influencer=dwayne&from=2000-01-01&to=2999-01-01",
  "/ui/events/evt_payout",
  "/ui/deliveries",
  "/ui/deliveries?destination=sink&status=dead",
  "/ui/deliveries/replay-dead?destination=sink",
  "/ui/destinations",
  "/ui/preview",
  "/ui/config",
];

Deno.test("signing in with the admin token sets an HttpOnly, SameSite=Strict session cookie", async () => {
  const f = await consoleFixture();
  try {
    const { answer, cookie } = await f.signIn();
    assert.equal(answer.headers.get("location"), "/");
    assert.match(cookie, /^hero_relay_session=[A-Za-z0-9_-]{40,}; /);
    assert.match(cookie, /; Path=\/(;|$)/);
    assert.match(cookie, /; HttpOnly(;|$)/);
    assert.match(cookie, /; SameSite=Strict(;|$)/);
    assert.match(cookie, /; Max-Age=43200(;|$)/, "12 hours by default");
    assert.doesNotMatch(cookie, /Secure/, "not over plain HTTP");
    const behindTls = await f.signIn({ "x-forwarded-proto": "https" });
    assert.match(behindTls.cookie, /; Secure(;|$)/, "Secure behind a TLS proxy");
    assert.equal(f.logs.find("console sign-in").length, 2);
  } finally {
    await f.close();
  }
});

Deno.test("a wrong token shows the form again with 401 and a warning that holds no token", async () => {
  const f = await consoleFixture();
  try {
    const answer = await f.request("/ui/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: `${TOKEN}x` }),
    });
    assert.equal(answer.status, 401);
    assert.equal(answer.headers.get("set-cookie"), null);
    assert.match(answer.text, /That is not the admin token/);
    assert.match(answer.text, /<input[^>]+name="token"/);
    assert.equal(f.logs.find("console sign-in refused: wrong token").length, 1);
    assert.ok(!f.logs.lines.some((l) => l.includes(TOKEN)), "no token in the log");
  } finally {
    await f.close();
  }
});

Deno.test("wrong tokens past ten a minute are refused with 429 without being checked", async () => {
  const f = await consoleFixture();
  try {
    const attempt = (token: string) =>
      f.request("/ui/login", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token }),
      });
    for (let i = 0; i < 10; i++) assert.equal((await attempt("wrong-token-000000")).status, 401);
    assert.equal((await attempt(TOKEN)).status, 429);
    f.advance(61_000);
    assert.equal((await attempt(TOKEN)).status, 303, "a minute later");
  } finally {
    await f.close();
  }
});

Deno.test("a page without a session redirects to the sign-in page, which leads back", async () => {
  const f = await consoleFixture();
  try {
    for (const path of ["/", "/ui/events?type=x", "/ui/config"]) {
      const answer = await f.request(path);
      assert.equal(answer.status, 303, path);
      assert.equal(
        answer.headers.get("location"),
        `/ui/login?${new URLSearchParams({ next: path })}`,
      );
    }
    const unknown = await f.request("/", { cookie: "made-up-session" });
    assert.match(unknown.headers.get("location")!, /expired=1/);
    const login = await f.request("/ui/login?next=%2Fui%2Fconfig");
    assert.equal(login.status, 200);
    assert.match(login.text, /name="next" value="\/ui\/config"/);
    const away = await f.request("/ui/login?next=%2F%2Fevil.example%2F");
    assert.match(away.text, /name="next" value="\/"/, "never another site");
  } finally {
    await f.close();
  }
});

Deno.test("an expired session redirects to sign-in and is forgotten", async () => {
  const f = await consoleFixture({ lifetimeMs: 5_000 });
  try {
    const { session } = await f.signIn();
    assert.equal((await f.request("/", { cookie: session })).status, 200);
    f.advance(5_001);
    const answer = await f.request("/", { cookie: session });
    assert.equal(answer.status, 303);
    assert.match(answer.headers.get("location")!, /^\/ui\/login\?.*expired=1/);
    const login = await f.request(answer.headers.get("location")!);
    assert.match(login.text, /Your session has ended/);
  } finally {
    await f.close();
  }
});

Deno.test("a POST without the session's CSRF token, or from another origin, is refused with 403", async () => {
  const f = await consoleFixture();
  try {
    const { session, get } = await f.browser();
    const csrf = csrfOf((await get("/ui/destinations")).text);
    const form = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
      f.request("/ui/destinations/sink/pause", {
        method: "POST",
        cookie: session,
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams(fields),
      });
    assert.equal((await form({})).status, 403, "no token");
    assert.equal(
      (await form({ csrf: csrf.slice(0, -1) + (csrf.endsWith("A") ? "B" : "A") })).status,
      403,
      "another token",
    );
    assert.equal(
      (await form({ csrf }, { origin: "https://evil.example" })).status,
      403,
      "another site's Origin",
    );
    assert.equal((await form({ csrf }, { origin: "null" })).status, 403, "an opaque Origin");
    assert.equal((await form({ csrf }, { "sec-fetch-site": "cross-site" })).status, 403);
    assert.equal((await form({ csrf }, { "sec-fetch-site": "same-site" })).status, 403);
    const login = await f.request("/ui/login", {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin: "https://evil.example",
      },
      body: new URLSearchParams({ token: TOKEN }),
    });
    assert.equal(login.status, 403, "sign-in from another site");
    assert.deepEqual(await f.store.pausedDestinations(), [], "nothing was paused");
    const own = await form({ csrf }, { origin: f.admin.url, "sec-fetch-site": "same-origin" });
    assert.equal(own.status, 303, "the console's own form");
    assert.deepEqual((await f.store.pausedDestinations()).map((p) => p.name), ["sink"]);
  } finally {
    await f.close();
  }
});

Deno.test("every page renders with seeded data, the security headers and valid structure", async () => {
  const f = await consoleFixture();
  try {
    const { get } = await f.browser();
    f.setReload({ at: Date.now(), ok: false, errors: ['routes[0].to[0]: names "slak"'] });
    for (const path of [...PAGES, "/ui/login"]) {
      const answer = await get(path);
      const expected = path === "/ui/login" ? 303 : 200;
      assert.equal(answer.status, expected, `${path}: ${answer.text.slice(0, 500)}`);
      if (expected === 303) continue;
      assert.equal(answer.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY, path);
      assert.equal(answer.headers.get("x-content-type-options"), "nosniff", path);
      assert.equal(answer.headers.get("referrer-policy"), "same-origin", path);
      assert.equal(answer.headers.get("cache-control"), "no-store", path);
      assert.match(answer.headers.get("content-type")!, /^text\/html; charset=utf-8$/);
      const html = answer.text;
      assert.match(html, /^<!DOCTYPE html><html lang="en">/, path);
      assert.match(html, /<title>[^<]+ · hero-relay<\/title>/, path);
      assert.equal(html.match(/<h1[ >]/g)?.length, 1, `${path}: one h1`);
      assert.match(html, /<a class="skip" href="#main">/, path);
      assert.match(html, /aria-current="page"/, path);
      assertNoInline(html, path);
      if (path === "/") {
        assert.match(html, /<svg class="chart" viewBox="[^"]+" role="img" aria-labelledby=/);
        assert.match(html, /<th scope="row">new_influencer_order<\/th><td class="num">54<\/td>/);
      }
      assert.ok(!html.includes(SINK_TOKEN), `${path} shows no secret`);
      assert.ok(!html.includes(TOKEN), `${path} shows no token`);
    }
  } finally {
    await f.close();
  }
});

Deno.test("the sign-in page, a refusal and the assets carry the security headers too", async () => {
  const f = await consoleFixture();
  try {
    const login = await f.request("/ui/login");
    assert.equal(login.status, 200);
    assert.equal(login.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
    assert.equal(login.text.match(/<h1[ >]/g)?.length, 1);
    assertNoInline(login.text, "/ui/login");
    const redirect = await f.request("/");
    assert.equal(redirect.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
    for (const [path, type] of [["console.css", "text/css"], ["console.js", "text/javascript"]]) {
      const asset = await f.request(`/ui/assets/${path}`);
      assert.equal(asset.status, 200);
      assert.match(asset.headers.get("content-type")!, new RegExp(`^${type}`));
      assert.equal(asset.headers.get("x-content-type-options"), "nosniff");
      assert.ok(asset.text.length > 100);
    }
    const { get } = await f.browser();
    const missing = await get("/ui/events/evt_none");
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
    assert.equal(missing.text.match(/<h1[ >]/g)?.length, 1);
    assert.equal((await get("/ui/destinations/sink/pause")).status, 405, "a GET of an action");
  } finally {
    await f.close();
  }
});

Deno.test("the event page shows the payload folded, each attempt and the redacted answer", async () => {
  const f = await consoleFixture();
  try {
    const { get } = await f.browser();
    const html = (await get("/ui/events/evt_payout")).text;
    assert.match(html, /<h1>Event new_payout_request<\/h1>/);
    assert.match(html, /dlv_sink/);
    assert.match(html, /dlv_crm/);
    assert.match(html, /upstream said \[redacted\] is bad/);
    assert.match(html, /120 ms/);
    assert.match(html, />500</);
    assert.match(html, /<details class="fold"><summary><span class="key">padding: <\/span>/);
    assert.match(html, /January bonus payment/);
  } finally {
    await f.close();
  }
});

Deno.test("the events list filters and pages with Older →", async () => {
  const f = await consoleFixture();
  try {
    const { get } = await f.browser();
    const first = (await get("/ui/events")).text;
    assert.match(first, /evt_payout/);
    const older = /href="(\/ui\/events\?after=[^"]+)" rel="next"/.exec(first);
    assert.ok(older, "an Older link");
    const second = (await get(older[1]!.replaceAll("&amp;", "&"))).text;
    assert.doesNotMatch(second, /evt_payout/);
    assert.match(second, /evt_order_53/);
    assert.doesNotMatch(second, /rel="next"/, "the last page");
    const payouts = (await get("/ui/events?type=new_payout_request")).text;
    assert.match(payouts, /evt_payout/);
    assert.doesNotMatch(payouts, /evt_order_/);
    // A source's type (any text) filters too, and the form keeps it selected.
    const shop = (await get("/ui/events?type=shop.orders_create")).text;
    assert.doesNotMatch(shop, /evt_payout|evt_order_/);
    assert.match(shop, /<option value="shop\.orders_create" selected>/);
    const dead = (await get("/ui/events?status=dead")).text;
    assert.match(dead, /evt_payout/);
    assert.doesNotMatch(dead, /evt_order_/);
    const bad = await get("/ui/events?from=yesterday");
    assert.equal(bad.status, 400);
    assert.match(bad.text, /From takes a date/);
  } finally {
    await f.close();
  }
});

Deno.test("replaying a delivery from its event's page makes it due again", async () => {
  const f = await consoleFixture();
  try {
    const { post, get } = await f.browser();
    assert.equal((await f.store.getDelivery("dlv_sink"))!.delivery.status, "dead");
    const answer = await post(
      "/ui/deliveries/dlv_sink/replay",
      { back: "/ui/events/evt_payout" },
      "/ui/events/evt_payout",
    );
    assert.equal(answer.status, 303);
    assert.equal(answer.headers.get("location"), "/ui/events/evt_payout");
    const found = (await f.store.getDelivery("dlv_sink"))!;
    assert.equal(found.delivery.status, "pending");
    assert.ok(found.delivery.nextAt <= Date.now());
    assert.equal(found.attempts.at(-1)!.outcome, "replay");
    assert.equal(f.calls.replayed, 1);
    const page = (await get("/ui/events/evt_payout")).text;
    assert.match(page, /class="flash ok" role="status">The delivery to sink is due again/);
    assert.doesNotMatch((await get("/ui/events/evt_payout")).text, /class="flash/, "shown once");
    const all = await post("/ui/events/evt_payout/replay", {}, "/ui/events/evt_payout");
    assert.equal(all.status, 303);
    assert.equal((await f.store.getDelivery("dlv_crm"))!.delivery.status, "pending");
  } finally {
    await f.close();
  }
});

Deno.test("bulk replay states the count of dead deliveries, then replays them", async () => {
  const f = await consoleFixture();
  try {
    const { post, get } = await f.browser();
    const confirm = (await get("/ui/deliveries/replay-dead?destination=sink")).text;
    assert.match(confirm, /<strong>1<\/strong> dead delivery to sink will be made due/);
    const none = (await get("/ui/deliveries/replay-dead?destination=crm")).text;
    assert.match(none, /No dead delivery to crm/);
    const answer = await post(
      "/ui/deliveries/replay-dead",
      { destination: "sink" },
      "/ui/deliveries/replay-dead?destination=sink",
    );
    assert.equal(answer.status, 303);
    assert.equal(answer.headers.get("location"), "/ui/deliveries?destination=sink");
    assert.equal((await f.store.getDelivery("dlv_sink"))!.delivery.status, "pending");
    assert.equal(f.calls.replayed, 1);
    assert.match(
      (await get("/ui/deliveries?destination=sink")).text,
      /1 dead delivery is due again/,
    );
  } finally {
    await f.close();
  }
});

Deno.test("pause, resume and enable forms change the store and tell the worker", async () => {
  const f = await consoleFixture();
  try {
    const { post, get } = await f.browser();
    assert.equal((await post("/ui/destinations/crm/pause", {})).status, 303);
    assert.deepEqual((await f.store.pausedDestinations()).map((p) => p.name), ["crm"]);
    assert.equal(f.calls.paused, 1);
    const page = (await get("/ui/destinations")).text;
    assert.match(page, /paused by hand/);
    assert.match(page, /aria-label="Resume crm"/);
    assert.equal((await post("/ui/destinations/crm/resume", {})).status, 303);
    assert.deepEqual(await f.store.pausedDestinations(), []);
    assert.equal(f.calls.paused, 2);
    await f.store.setDisabled("sink", "HTTP 410: gone", Date.now());
    const gone = (await get("/ui/destinations")).text;
    assert.match(gone, /disabled because its service says it is gone/);
    assert.equal((await post("/ui/destinations/sink/enable", {})).status, 303);
    assert.deepEqual(await f.store.disabledDestinations(), []);
    assert.equal(f.calls.enabled, 1);
    assert.equal((await post("/ui/destinations/nope/pause", {})).status, 404);
  } finally {
    await f.close();
  }
});

Deno.test("the preview renders each routed destination and sends a test for real", async () => {
  const f = await consoleFixture();
  try {
    const { post, get } = await f.browser();
    const answer = await post("/ui/preview", { type: "new_payout_request", source: "sample" });
    assert.equal(answer.status, 303);
    const page = (await get("/ui/preview")).text;
    assert.match(page, /Route all → sink/);
    assert.match(page, /Route all → crm/);
    assert.match(page, /POST http:\/\/127\.0\.0\.1:\d+\/…/, "the URL masked");
    assert.ok(!page.includes(SINK_TOKEN));
    assert.match(page, /January bonus payment/);
    assertNoInline(page, "/ui/preview");
    const sent = await post("/ui/preview/send", { destination: "crm" }, "/ui/preview");
    assert.equal(sent.status, 303);
    await f.sink.waitFor(1);
    assert.equal(f.sink.received[0]!.path, "/crm");
    assert.match((await get("/ui/preview")).text, /Test sent to crm: delivered \(HTTP 200\)/);
    await post(
      "/ui/preview",
      { type: "new_payout_request", source: "json", json: "[1]" },
      "/ui/preview",
    );
    assert.match((await get("/ui/preview")).text, /The pasted payload is not a JSON object/);
    await post("/ui/preview", { type: "x", source: "event", event: "evt_payout" }, "/ui/preview");
    assert.match((await get("/ui/preview")).text, /What new_payout_request would send/);
  } finally {
    await f.close();
  }
});

Deno.test("the config page masks secrets, shows the routing table and the last reload's errors", async () => {
  const f = await consoleFixture();
  try {
    const { get } = await f.browser();
    f.setReload({ at: Date.now(), ok: false, errors: ['routes[0].to[0]: names "slak"'] });
    const html = (await get("/ui/config")).text;
    assert.ok(!html.includes(SINK_TOKEN));
    assert.ok(!html.includes(TOKEN));
    assert.match(html, /\[redacted\]/);
    assert.match(html, /<code>routes\[0\]\.to\[0\]<\/code>: names &quot;slak&quot;/);
    assert.match(html, /all → sink/);
    assert.match(html, /all → crm/);
    assert.match(html, /\(other types\)/);
  } finally {
    await f.close();
  }
});

Deno.test("sign-out ends the session and a new token ends them all; the API keeps its bearer token", async () => {
  const f = await consoleFixture();
  try {
    const a = await f.browser();
    const out = await a.post("/ui/logout", {});
    assert.equal(out.status, 303);
    assert.match(out.headers.get("set-cookie")!, /Max-Age=0/);
    assert.equal((await a.get("/")).status, 303, "signed out");
    const b = await f.browser();
    assert.equal((await b.get("/")).status, 200);
    await f.admin.setToken("another-token-for-tests-77aa");
    assert.equal((await b.get("/")).status, 303, "the new token ended the session");
    const api = await f.request("/events", {
      headers: { authorization: "Bearer another-token-for-tests-77aa" },
    });
    assert.equal(api.status, 200);
    assert.match(api.headers.get("content-type")!, /application\/json/);
    const root = await f.request("/", { headers: { authorization: "Bearer wrong" } });
    assert.equal(root.status, 401, "a request with a token is the API's, even at /");
    const bare = await f.request("/events");
    assert.equal(bare.status, 401, "the API's paths stay the API's");
  } finally {
    await f.close();
  }
});

/** No inline script, style attribute or event handler: the CSP would block them. */
function assertNoInline(html: string, path: string): void {
  assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/, `${path}: inline <script>`);
  assert.doesNotMatch(html, /<style[\s>]/, `${path}: <style>`);
  assert.doesNotMatch(html, /\sstyle=/, `${path}: style=`);
  assert.doesNotMatch(html, /\son[a-z]+=/, `${path}: an on… handler`);
  assert.doesNotMatch(html, /javascript:/i, `${path}: a javascript: URL`);
}
