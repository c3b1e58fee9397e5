// A real browser for the console's tests: Debian's chromium driven by puppeteer-core, axe-core
// run inside the page, and screenshots at desktop and phone width written where a person can
// look at them (HERO_RELAY_SCREENSHOTS, default a temp folder).

import axe from "axe-core";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** Where Debian installs chromium; .ci/run installs it when missing. */
export const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";

/** Desktop and phone viewports. */
export const VIEWPORTS = {
  desktop: { width: 1280, height: 900 },
  phone: { width: 375, height: 740, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
} as const;

/** Starts a headless chromium, gives it to `fn`, and always closes it. */
export async function withBrowser<T>(fn: (browser: Browser) => Promise<T>): Promise<T> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(`chromium not found at ${CHROMIUM}: apt-get install chromium`);
  }
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container has no user namespace for chromium's sandbox.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--lang=en-US"],
  });
  try {
    return await fn(browser);
  } finally {
    await browser.close();
  }
}

/** One axe-core finding. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

const AXE_SOURCE = (axe as unknown as { source: string }).source;

/** Runs axe-core in the page; the serious and critical violations it finds. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    // deno-lint-ignore no-explicit-any
    const result = await (globalThis as any).axe.run(document, {
      resultTypes: ["violations"],
    });
    // deno-lint-ignore no-explicit-any
    return result.violations.map((v: any) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      // deno-lint-ignore no-explicit-any
      nodes: v.nodes.slice(0, 3).map((n: any) => n.html),
    }));
  }) as AxeViolation[];
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** The folder screenshots go to; created once. */
export async function screenshotDir(): Promise<string> {
  const dir = Deno.env.get("HERO_RELAY_SCREENSHOTS") ??
    `${Deno.env.get("TMPDIR") ?? "/tmp"}/hero-relay-console`;
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}
