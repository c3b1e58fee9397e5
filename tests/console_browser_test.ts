// The console in a real browser (chromium driven by puppeteer-core) against a real relay: sign
// in, find an event, open it, replay a dead delivery and see the fake destination get it,
// bulk-replay after a confirmation that states the count, enable a destination disabled as gone,
// pause and resume, preview and send a test; a wrong token, a stale session and a cross-site POST
// are refused. axe-core finds no serious or critical violation on any page, at desktop or phone
// width, and every page is screenshotted at both (see tests/browser.ts for where).

import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { screenshotDir, seriousViolations, VIEWPORTS, withBrowser } from "./browser.ts";
import { eventually, FakeServer, freshSample, post, testConfig, testRelay } from "./helpers.ts";

const TOKEN = "browser-console-token-7c1e5a93";

/** Loads `url` and waits for the page to settle. */
async function open(page: Page, url: string): Promise<number> {
  const response = await page.goto(url, { waitUntil: "load" });
  return response?.status() ?? 0;
}

/** Submits the form whose button matches `selector` and waits for the next page. */
async function submit(page: Page, selector: string): Promise<number> {
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    page.click(selector),
  ]);
  return response?.status() ?? 0;
}

/** The page's visible text. */
function text(page: Page): Promise<string> {
  return page.evaluate(() => document.body.innerText);
}

/** axe at both widths, and a screenshot of each. */
async function look(page: Page, name: string): Promise<void> {
  const dir = await screenshotDir();
  for (const [width, viewport] of Object.entries(VIEWPORTS)) {
    await page.setViewport(viewport);
    const violations = await seriousViolations(page);
    assert.deepEqual(violations, [], `${name} at ${width} width: ${JSON.stringify(violations)}`);
    await page.screenshot({ path: `${dir}/${name}-${width}.png`, fullPage: true });
  }
  await page.setViewport(VIEWPORTS.desktop);
}

Deno.test("the console in chromium: sign in, find, replay, bulk-replay, enable, pause, preview; refusals", async () => {
  let healthy = false;
  const sink = new FakeServer(() =>
    healthy ? { status: 200, body: "ok" } : { status: 503, body: "down for maintenance" }
  );
  let crmBack = false;
  const gone = new FakeServer(() =>
    crmBack ? { status: 200, body: "ok" } : { status: 410, body: "this hook was deleted" }
  );
  const dir = await Deno.makeTempDir();
  const { relay } = await testRelay(testConfig(dir, {
    admin: { port: 0, token: TOKEN },
    destinations: {
      sink: { type: "http", url: `${sink.url}/hook`, retry: { schedule: ["0s"] } },
      crm: { type: "http", url: `${gone.url}/crm` },
    },
    routes: [
      { name: "payouts", events: "new_payout_request", to: ["sink"] },
      { name: "orders", events: "new_influencer_order", to: ["sink", "crm"] },
    ],
  }));
  // A page on another origin that posts to the console: the browser attaches no cookie
  // (SameSite=Strict) and the console checks the origin, so nothing may happen.
  const evil = new FakeServer(() => ({
    status: 200,
    headers: { "content-type": "text/html" },
    body: `<!doctype html><html lang="en"><title>evil</title><body>
      <form id="f" method="post" action="${relay.adminUrl}/ui/destinations/sink/pause">
      <input name="csrf" value="guess"></form>
      <script>document.getElementById("f").submit()</script></body></html>`,
  }));
  try {
    const base = relay.adminUrl!;
    for (const type of ["new_payout_request", "new_payout_request", "new_influencer_order"]) {
      const answer = await post(relay.url, "/hooks", freshSample(type));
      assert.equal(answer.status, 200);
    }
    // Two payout deliveries and one order delivery die at the sink (one attempt each); the crm
    // answers 410 and is disabled as gone.
    await eventually(
      async () => {
        const dead = await relay.store.listDeliveries({ status: "dead", destination: "sink" });
        const disabled = await relay.store.disabledDestinations();
        return dead.length === 3 && disabled.some((d) => d.name === "crm");
      },
      15_000,
      "three dead deliveries and crm disabled",
    );

    await withBrowser(async (browser) => {
      const page = await browser.newPage();
      page.on("dialog", (dialog) => void dialog.accept());

      // Signed out, any page leads to the sign-in form; a wrong token is refused.
      await open(page, `${base}/ui/events`);
      assert.match(page.url(), /\/ui\/login/);
      await look(page, "login");
      await page.type("input[name=token]", "not-the-token-at-all");
      assert.equal(await submit(page, "form[action='/ui/login'] button[type=submit]"), 401);
      assert.match(await text(page), /token/i);
      await page.type("input[name=token]", TOKEN);
      assert.equal(await submit(page, "form[action='/ui/login'] button[type=submit]"), 200);
      assert.match(page.url(), /\/ui\/events/, "back where the operator was going");
      const cookie = (await browser.cookies()).find((c) => c.name === "hero_relay_session");
      assert.ok(cookie?.httpOnly && cookie.sameSite === "Strict", JSON.stringify(cookie));

      // Overview.
      assert.equal(await open(page, `${base}/`), 200);
      const overview = await text(page);
      assert.match(overview, /sink/);
      assert.match(overview, /crm/);
      assert.ok(await page.$("svg"), "the events chart");
      await look(page, "overview");

      // Find the order event by type, open it.
      assert.equal(await open(page, `${base}/ui/events?type=new_influencer_order`), 200);
      await look(page, "events");
      const links = await page.$$eval(
        "main a[href^='/ui/events/']",
        (as) => as.map((a) => a.getAttribute("href")!),
      );
      assert.equal(links.length, 1, links.join(", "));
      assert.equal(await open(page, `${base}${links[0]}`), 200);
      const event = await text(page);
      assert.match(event, /new_influencer_order/);
      assert.match(event, /503/, "the sink's answer");
      assert.match(event, /down for maintenance/);
      await look(page, "event");

      // Replay its dead delivery: the sink, healthy now, gets it.
      healthy = true;
      const before = sink.received.length;
      await submit(page, "form[action$='/replay'] button[type=submit]");
      await sink.waitFor(before + 1);
      await eventually(
        async () => {
          await open(page, `${base}${links[0]}`);
          return /delivered/i.test(await text(page));
        },
        10_000,
        "the event page shows the delivery delivered",
      );

      // Bulk replay: the confirmation states the count (the two payouts), then both arrive.
      assert.equal(await open(page, `${base}/ui/deliveries?destination=sink&status=dead`), 200);
      await look(page, "deliveries");
      await submit(page, "a[href^='/ui/deliveries/replay-dead']");
      assert.match(await text(page), /\b2 dead deliveries to sink will be made due now/);
      await look(page, "replay-confirm");
      const beforeBulk = sink.received.length;
      await submit(page, "form[action='/ui/deliveries/replay-dead'] button[type=submit]");
      await sink.waitFor(beforeBulk + 2);

      // Destinations: enable crm, pause and resume sink (durable, in the store).
      assert.equal(await open(page, `${base}/ui/destinations`), 200);
      await look(page, "destinations");
      assert.match(await text(page), /gone|disabled/i);
      // Someone fixed the crm's hook; enabling it sends what waited for it.
      crmBack = true;
      const crmBefore = gone.received.length;
      await submit(page, "form[action='/ui/destinations/crm/enable'] button[type=submit]");
      await gone.waitFor(crmBefore + 1);
      assert.deepEqual(await relay.store.disabledDestinations(), []);
      await submit(page, "form[action='/ui/destinations/sink/pause'] button[type=submit]");
      assert.deepEqual((await relay.store.pausedDestinations()).map((p) => p.name), ["sink"]);
      assert.match(await text(page), /paused/i);
      await submit(page, "form[action='/ui/destinations/sink/resume'] button[type=submit]");
      assert.deepEqual(await relay.store.pausedDestinations(), []);

      // Preview a built-in sample, then send a test to the sink for real.
      assert.equal(await open(page, `${base}/ui/preview`), 200);
      await page.select("select[name=type]", "new_payout_request");
      await submit(page, "form[action='/ui/preview'] button[type=submit]");
      const preview = await text(page);
      assert.match(preview, /sink/);
      assert.match(preview, /POST/);
      await look(page, "preview");
      const beforeTest = sink.received.length;
      await submit(page, "form[action='/ui/preview/send'] button[type=submit]");
      await sink.waitFor(beforeTest + 1);
      assert.match(await text(page), /delivered/i);

      assert.equal(await open(page, `${base}/ui/config`), 200);
      assert.match(await text(page), /payouts/);
      await look(page, "config");

      // A cross-site POST changes nothing.
      const evilPage = await browser.newPage();
      await Promise.all([
        evilPage.waitForNavigation({ waitUntil: "load" }),
        evilPage.goto(`${evil.url}/`),
      ]);
      assert.ok(evilPage.url().startsWith(base), evilPage.url());
      assert.deepEqual(await relay.store.pausedDestinations(), []);
      await evilPage.close();

      // A session the relay no longer knows (a stale or forged cookie) is signed out.
      await browser.setCookie({ ...cookie!, value: "stale-session-id" });
      await open(page, `${base}/ui/destinations`);
      assert.match(page.url(), /\/ui\/login/);

      await page.close();
    });
  } finally {
    await relay.stop();
    for (const server of [sink, gone, evil]) await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the console without JavaScript: sign in, pause and resume, replay, sign out", async () => {
  const sink = new FakeServer(() => ({ status: 200, body: "ok" }));
  const dir = await Deno.makeTempDir();
  const { relay } = await testRelay(testConfig(dir, {
    admin: { port: 0, token: TOKEN },
    destinations: { sink: { type: "http", url: `${sink.url}/hook` } },
    routes: [{ name: "all", events: "*", to: ["sink"] }],
  }));
  try {
    const base = relay.adminUrl!;
    assert.equal((await post(relay.url, "/hooks", freshSample("product_sent"))).status, 200);
    await sink.waitFor(1);
    await withBrowser(async (browser) => {
      const page = await browser.newPage();
      await page.setJavaScriptEnabled(false);
      await open(page, `${base}/`);
      await page.type("input[name=token]", TOKEN);
      assert.equal(await submit(page, "form[action='/ui/login'] button[type=submit]"), 200);
      assert.match(await text(page), /Overview/);
      // Without the script's confirm(), the forms post straight away.
      assert.equal(await open(page, `${base}/ui/destinations`), 200);
      await submit(page, "form[action='/ui/destinations/sink/pause'] button[type=submit]");
      assert.deepEqual((await relay.store.pausedDestinations()).map((p) => p.name), ["sink"]);
      await submit(page, "form[action='/ui/destinations/sink/resume'] button[type=submit]");
      assert.deepEqual(await relay.store.pausedDestinations(), []);
      // Replay the delivered event's delivery from the deliveries list: it is sent again.
      assert.equal(await open(page, `${base}/ui/deliveries?destination=sink`), 200);
      await submit(page, "form[action$='/replay'] button[type=submit]");
      await sink.waitFor(2);
      await submit(page, "form[action='/ui/logout'] button[type=submit]");
      await open(page, `${base}/ui/events`);
      assert.match(page.url(), /\/ui\/login/, "signed out");
      await page.close();
    });
  } finally {
    await relay.stop();
    await sink.close();
    await Deno.remove(dir, { recursive: true });
  }
});
