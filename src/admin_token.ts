// The admin token when the config sets none: generated on the first start and kept in a file
// beside the store (mode 0600), so the console works on the embedded defaults and the token
// survives restarts. The token itself is never logged; where it is, is.

import { dirname, join, resolve } from "node:path";
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";

/** The file's name, beside the SQLite database (or the config file, with PostgreSQL). */
export const ADMIN_TOKEN_FILE = "admin-token";

/** The admin token in use and where it came from. */
export interface AdminToken {
  token: string;
  /** The file holding a generated token, or null when the config sets the token. */
  file: string | null;
}

/** Where a generated token is kept for this config. */
export function adminTokenPath(config: Config, source: string): string {
  const sqlite = config.store.sqlite;
  const folder =
    config.store.postgres === undefined && sqlite !== undefined && sqlite !== ":memory:"
      ? dirname(resolve(sqlite))
      : dirname(resolve(source));
  return join(folder, ADMIN_TOKEN_FILE);
}

/**
 * The config's admin token, or the generated one: read from its file, or created there with 32
 * random bytes when the file does not exist. Throws when the file cannot be read or written, or
 * holds something too short to be a token.
 */
export async function resolveAdminToken(
  config: Config,
  source: string,
  log: Logger,
): Promise<AdminToken> {
  const configured = config.admin?.token;
  if (configured !== undefined) return { token: configured, file: null };
  const file = adminTokenPath(config, source);
  try {
    const token = (await Deno.readTextFile(file)).trim();
    if (token.length < 16) {
      throw new Error(
        `${file} holds no token of at least 16 characters; delete it to get a new one`,
      );
    }
    const mode = (await Deno.stat(file)).mode;
    if (mode !== null && (mode & 0o077) !== 0) {
      log.warn("the admin token file is readable by other users; run chmod 600 on it", { file });
    }
    return { token, file };
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const token = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
  await Deno.mkdir(dirname(file), { recursive: true });
  try {
    // createNew: two relays starting at once never overwrite each other's token.
    await Deno.writeTextFile(file, token + "\n", { mode: 0o600, createNew: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      return await resolveAdminToken(config, source, log);
    }
    throw error;
  }
  // The umask may have taken bits off the mode, never added any; this makes it exact.
  await Deno.chmod(file, 0o600);
  log.info("admin token generated", { file });
  return { token, file };
}
