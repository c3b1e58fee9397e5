// What every command shares: the --config option, argument parsing, printing with the config's
// secrets redacted, loading the config, and the help text.

import { parseArgs } from "node:util";
import { type Config, configSecrets, loadConfig, type ParseOptions } from "../config.ts";
import { writeStderr, writeStdout } from "../log.ts";
import { Redactor } from "../redact.ts";
import type { DisabledDestination, PausedDestination } from "../store.ts";

export const CONFIG_OPTION = {
  config: { type: "string", short: "c", default: "./config.json" },
  help: { type: "boolean", short: "h" },
} as const;

/** A mistake in the command line: printed with a hint, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface Command {
  usage: string;
  run(args: string[]): Promise<number>;
}

/** "disabled by the relay since …: <reason>; …", for check and deliveries. */
export function describeGone(gone: DisabledDestination): string {
  return `disabled by the relay since ${
    new Date(gone.at).toISOString().replace(/\.\d+Z$/, "Z")
  } because its endpoint is gone (${gone.reason}); deliveries wait: fix it, then run ` +
    `"hero-relay enable ${gone.name}"`;
}

/** "paused by hand since …; …", for check and deliveries. */
export function describePaused(paused: PausedDestination): string {
  return `paused by hand since ${
    new Date(paused.at).toISOString().replace(/\.\d+Z$/, "Z")
  }; deliveries wait: run "hero-relay resume ${paused.name}"`;
}

export type Options = Parameters<typeof parseArgs>[0] extends infer T
  ? T extends { options?: infer O } ? NonNullable<O> : never
  : never;

/**
 * The CLI's redactor: every command that loads the config takes that config's secrets out of
 * what it prints, an attempt's stored error included.
 */
export const redactor = new Redactor();

/**
 * Loads the config (only `options.parts` when given) and arms the redactor with its secrets. A
 * command that reads only some parts still redacts the secrets of all of them where the whole
 * config loads; where it does not (an unset variable the command has no use for), the errors it
 * may print were redacted by the relay when it stored them.
 */
export function load(path: string, options: ParseOptions = {}): Config {
  const config = loadConfig(path, options);
  let secrets = configSecrets(config);
  if (options.parts !== undefined) {
    try {
      secrets = configSecrets(loadConfig(path));
    } catch {
      // the parts read are redacted
    }
  }
  redactor.set(secrets);
  return config;
}

/** Writes CLI output, secrets redacted. */
export function print(text: string): void {
  writeStdout(redactor.redact(text));
}

/** Writes CLI errors, secrets redacted. */
export function printError(text: string): void {
  writeStderr(redactor.redact(text));
}

export function parse<O extends Options>(args: string[], options: O, positionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: positionals });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function help(usage: string): Promise<number> {
  print(usage);
  return Promise.resolve(0);
}
