// Review: a config that is not valid JSON is reported without quoting the text around the
// mistake, which may be a secret written by hand (single quotes, a missing quote).

import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../src/config.ts";

Deno.test("a JSON syntax error in the config never quotes the text near it", () => {
  const texts = [
    `{"influencer_hero": {"signing_secrets": ['s3cr3t-value-abcdef']}}`,
    `{"destinations": {"s": {"type": "slack", "url": https://hooks.slack.com/services/T/B/TOKENxyz}}}`,
  ];
  for (const text of texts) {
    assert.throws(() => parseConfig(text, "config.json", { env: () => undefined }), (error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /not valid JSON/);
      for (const secret of ["s3cr3t", "hooks.slack", "TOKEN"]) {
        assert.ok(!error.message.includes(secret), `"${secret}" in: ${error.message}`);
      }
      return true;
    });
  }
});
