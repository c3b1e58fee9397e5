// Prints the release notes for a tag: its section of CHANGELOG.md. Refuses a tag that is not
// deno.json's version, or a version the changelog has no section for, so nothing is published
// without notes. Usage: deno run --allow-read .ci/release_notes.ts v0.1.0 [CHANGELOG.md]

// deno-lint-ignore-file no-console

import denoJson from "../deno.json" with { type: "json" };

/** The body of `## <version>` (up to the next `## ` heading), trimmed; null when there is none. */
export function releaseNotes(changelog: string, version: string): string | null {
  const lines = changelog.split("\n");
  const heading = new RegExp(`^## \\[?v?${version.replaceAll(".", "\\.")}\\]?(?:\\s|$)`);
  const start = lines.findIndex((line) => heading.test(line));
  if (start === -1) return null;
  const end = lines.findIndex((line, i) => i > start && line.startsWith("## "));
  const body = lines.slice(start + 1, end === -1 ? undefined : end).join("\n").trim();
  return body === "" ? null : body;
}

if (import.meta.main) {
  const tag = Deno.args[0] ?? "";
  const version = tag.replace(/^v/, "");
  const path = Deno.args[1] ?? new URL("../CHANGELOG.md", import.meta.url);
  if (version !== denoJson.version) {
    console.error(`tag "${tag}" is not deno.json's version ${denoJson.version}`);
    Deno.exit(1);
  }
  const notes = releaseNotes(await Deno.readTextFile(path), version);
  if (notes === null) {
    console.error(`CHANGELOG.md has no section "## ${version}" with notes`);
    Deno.exit(1);
  }
  console.log(notes);
}
