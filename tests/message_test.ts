import assert from "node:assert/strict";
import { templateScope } from "../src/route.ts";
import { slackMessage } from "../src/destination_slack.ts";
import { EVENT_TYPES } from "../src/events.ts";
import { compileMessage, plainText } from "../src/message.ts";
import { SAMPLES } from "../src/samples.ts";
import { compact, compileCondition, money, percent, unixDate } from "../src/template.ts";
import { loadTemplates } from "../src/template.ts";

// Liquid loads on demand in the relay; these tests compile templates directly.
await loadTemplates();

const event = { id: "evt_TEST", type: "", receivedAt: 1_700_000_000_000 };

Deno.test("every default message renders every sample payload with a title and the influencer", () => {
  for (const type of [...EVENT_TYPES.map((t) => t.name), "some_future_type"]) {
    const template = compileMessage(type);
    for (const [sampleType, payload] of Object.entries(SAMPLES)) {
      const message = template(templateScope(payload, { ...event, type }));
      assert.notEqual(message.title, "", `${type} with ${sampleType}`);
      assert.doesNotMatch(
        plainText(message),
        /\{\{|\{%|undefined|\[object Object\]/,
        `${type}/${sampleType}`,
      );
      assert.equal(message.author?.name, "Dwayne Johnson (@therock)");
      assert.equal(message.author?.url, "https://instagram.com/therock");
    }
  }
});

Deno.test("the default messages say what changed, with amounts and currencies", () => {
  const render = (type: string) =>
    plainText(compileMessage(type)(templateScope(SAMPLES[type]!, { ...event, type })));
  assert.match(render("update_commission"), /from 10% to 15%/);
  assert.match(
    render("update_discount_code"),
    /FIT2023 \(15% off\) was replaced by FIT2024 \(20% off\)/,
  );
  assert.match(render("update_custom_link"), /\/the-old-link → \/the-new-link/);
  assert.match(render("new_payout_request"), /Payout requested by Dwayne Johnson: \$1,500\.00/);
  assert.match(render("product_sent"), /1 × Protein Shaker - Black\n2 × Whey 1kg - Vanilla/);
  assert.match(
    render("new_influencer_order"),
    /Order #1234 for \$149\.99, commission \$15\.00 \(10%\)/,
  );
  assert.match(render("new_influencer_reply"), /Received: 2025-01-16 09:15 UTC/);
  assert.match(render("new_email_sent"), /Email sent to Dwayne Johnson: Collaboration Proposal/);
  assert.match(render("new_max_bid"), /Please provide the highest possible bid/);
});

Deno.test("a missing field renders empty and drops its field instead of failing", () => {
  const message = compileMessage("update_commission")(
    templateScope({
      commission_information: { old_commission_perc: null, new_commission_perc: 12 },
    }, {
      ...event,
      type: "update_commission",
    }),
  );
  assert.equal(message.title, "Commission set for An influencer");
  assert.equal(message.text, "Commission is now 12%.");
  assert.equal(message.author, null);
  assert.deepEqual(message.fields.map((f) => f.name), ["Commission"]);
});

Deno.test("route overrides replace single parts of the default message", () => {
  const message = compileMessage("update_commission", {
    title: "{{ deal_info.deal_name | upcase }}",
  })(
    templateScope(SAMPLES["update_commission"]!, { ...event, type: "update_commission" }),
  );
  assert.equal(message.title, "THEROCK");
  assert.match(message.text, /from 10% to 15%/);
});

Deno.test("Slack cards escape payload markup so it cannot ping or break the message", () => {
  const payload = structuredClone(SAMPLES["new_influencer_reply"]!) as {
    email_information: Record<string, unknown>;
    deal_info: Record<string, unknown>;
  };
  payload.email_information["email_body"] = "<!channel> <@U123> & <https://evil.example|click>";
  payload.deal_info["full_name"] = "*Bold* <b>";
  const message = compileMessage("new_influencer_reply")(
    templateScope(payload, { ...event, type: "new_influencer_reply" }),
  );
  const json = JSON.stringify(slackMessage(message));
  assert.doesNotMatch(json, /<!channel>|<@U123>|<https:\/\/evil/);
  assert.match(json, /&lt;!channel&gt; &lt;@U123&gt; &amp;/);
});

Deno.test("filters format money, percentages, follower counts and dates", () => {
  assert.equal(money(1500, "USD"), "$1,500.00");
  assert.equal(money("149.99", "eur"), "€149.99");
  assert.equal(money(10, "XYZ1"), "10.00 XYZ1");
  assert.equal(percent(15), "15%");
  assert.equal(percent(0.1, "fraction"), "10%");
  assert.equal(compact(60000), "60K");
  assert.equal(compact(1250000), "1.3M");
  assert.equal(unixDate("1693427202"), "2023-08-30 20:26 UTC");
  assert.equal(unixDate("2025-01-16 09:15:00"), "2025-01-16 09:15 UTC");
});

Deno.test("compileCondition() takes Liquid comparisons and rejects broken expressions", () => {
  const scope = { a: 5, b: { c: "tiktok" }, tags: ["x", "y"] };
  assert.equal(compileCondition("a > 3 and b.c == 'tiktok'")(scope), true);
  assert.equal(compileCondition('a < 3 or b.c contains "tik"')(scope), true);
  assert.equal(compileCondition("tags contains 'z'")(scope), false);
  assert.equal(compileCondition("missing.field > 1")(scope), false);
  for (const bad of ["a >", "a > > 3", "and a", "a b", "a == 1 or", "{% if a %}", "a $ 3"]) {
    assert.throws(() => compileCondition(bad), SyntaxError, bad);
  }
});

Deno.test("the built-in messages never show a shipping address or a phone number", () => {
  const payload = SAMPLES["product_sent"]!;
  const info = payload["send_product_info"] as {
    shipping_address: Record<string, string>;
    phone: string;
  };
  const personal = [
    info.phone,
    ...["address1", "city", "zip"].map((k) => info.shipping_address[k]!),
  ];
  assert.equal(personal.length, 4);
  for (const type of [...EVENT_TYPES.map((t) => t.name), "some_future_type"]) {
    const message = compileMessage(type)(templateScope(payload, { ...event, type }));
    const shown = JSON.stringify(message);
    for (const value of personal) assert.ok(!shown.includes(value), `${type} shows ${value}`);
  }
  // The country alone says where it goes.
  const sent = compileMessage("product_sent")(
    templateScope(payload, { ...event, type: "product_sent" }),
  );
  assert.deepEqual(sent.fields.find((f) => f.name === "Ships to")?.value, "US");
  // A template may still ask for the address.
  const asked = compileMessage("product_sent", {
    text: "{{ send_product_info.shipping_address.city }}",
  })(templateScope(payload, { ...event, type: "product_sent" }));
  assert.equal(asked.text, "Miami");
});
