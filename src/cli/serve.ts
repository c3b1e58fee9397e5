// `hero-relay serve`: load and watch the config, start the relay, reload on change and on
// SIGHUP, stop on SIGINT/SIGTERM.

import {
  type Config,
  ConfigError,
  configSecrets,
  configWarnings,
  loadConfig,
  permissionWarning,
} from "../config.ts";
import { BufferedWriter, createLogger, writeStderr, writeStdout } from "../log.ts";
import { startRelay } from "../relay.ts";
import {
  type Command,
  CONFIG_OPTION,
  help,
  parse,
  printError,
  redactor,
  UsageError,
} from "./shared.ts";

export const serveCommand: Command = {
  usage: `Usage: hero-relay serve [--config PATH] [--hostname H] [--port N]

Runs the relay: receives webhooks on POST /hooks/<event_type> (and POST /hooks, which detects
the type), stores them, and delivers them to the configured destinations.

Options:
-c, --config PATH  Config file (default ./config.json)
    --hostname H   Listen on this address instead of listen.hostname
-p, --port N       Listen on this port instead of listen.port
-h, --help         Show this help

The config is reloaded when its file changes and on SIGHUP: validated first, and kept as it
was (with the error logged) when the new one is invalid. SIGINT/SIGTERM stop gracefully.
`,
  async run(args) {
    const { values } = parse(args, {
      ...CONFIG_OPTION,
      hostname: { type: "string" },
      port: { type: "string", short: "p" },
    });
    if (values.help) return help(serveCommand.usage);
    const watched = new Set<string>();
    const config = loadWatchedConfig(values.config, watched);
    redactor.set(configSecrets(config));
    // Log lines alone go to standard output, so it stays JSON lines; console destinations
    // print on standard error.
    const stdout = new BufferedWriter(writeStdout, {
      onError: (error) =>
        printError(`hero-relay: cannot write logs to stdout (${(error as Error).name})\n`),
    });
    const log = createLogger(stdout, "info", { redact: redactor.redact });
    for (const warning of configWarnings(config)) log.warn(warning);
    const exposed = permissionWarning(values.config, config);
    if (exposed !== null) log.warn(exposed);
    const port = values.port === undefined ? undefined : parsePort(values.port);
    const relay = await startRelay({
      config,
      source: values.config,
      log,
      redactor,
      write: writeStderr,
      ...(values.hostname !== undefined ? { hostname: values.hostname } : {}),
      ...(port !== undefined ? { port } : {}),
    }).catch((error) => {
      throw listenError(error, values.hostname ?? config.listen.hostname);
    }).finally(stdout.flush);
    // Reloads run one at a time, in the order asked for.
    let reloading = Promise.resolve();
    const reload = (trigger: string) => {
      reloading = reloading.then(async () => {
        try {
          const next = loadWatchedConfig(values.config, watched);
          for (const warning of configWarnings(next)) log.warn(warning);
          await relay.reload(next);
        } catch (error) {
          const problems = error instanceof ConfigError
            ? error.problems
            : [(error as Error).message];
          relay.reloadFailed(problems);
          log.error("config reload failed; keeping the running config", {
            trigger,
            problems: problems.join("; "),
          });
        }
      });
    };
    const watcher = watchFiles(
      () => [values.config, ...watched],
      () => reload("file changed"),
    );
    const done = Promise.withResolvers<number>();
    const stop = () => {
      log.info("stopping");
      watcher.close();
      relay.stop().then(() => done.resolve(0), () => done.resolve(1));
    };
    Deno.addSignalListener("SIGINT", stop);
    if (Deno.build.os !== "windows") {
      Deno.addSignalListener("SIGTERM", stop);
      Deno.addSignalListener("SIGHUP", () => reload("SIGHUP"));
    }
    const code = await done.promise;
    stdout.flush();
    return code;
  },
};

/** How often the config and its `*_file` secrets are looked at (ms). */
const WATCH_INTERVAL_MS = 500;

/**
 * Loads the config, noting every `*_file` it reads, so that a watcher can look at them too.
 */
function loadWatchedConfig(path: string, files: Set<string>): Config {
  files.clear();
  return loadConfig(path, {
    readFile: (file) => {
      files.add(file);
      return Deno.readTextFileSync(file);
    },
  });
}

/**
 * Calls `changed` when the text of the config or of one of its `*_file` secrets changes. The
 * files are polled with stat, which opens nothing: a file-system watcher on the config's folder
 * would make the runtime open and close every file changed there, the store's database among
 * them, and closing any descriptor of the database drops the POSIX locks SQLite holds on it.
 * stat follows symlinks, so editors that save by renaming a new file over the old one and
 * Kubernetes' symlink swaps ("..data") are seen too. A change is acted on once the file has
 * stayed the same for one interval, so a half-written file is not read.
 */
function watchFiles(paths: () => Iterable<string>, changed: () => void): { close(): void } {
  const look = (path: string) => {
    try {
      const s = Deno.statSync(path);
      return `${s.dev}:${s.ino}:${s.size}:${s.mtime?.getTime()}:${s.ctime?.getTime()}`;
    } catch {
      return "missing";
    }
  };
  const text = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return null;
    }
  };
  const seen = new Map<string, { stat: string; text: string | null; settling: boolean }>();
  const note = () => {
    for (const path of paths()) {
      if (!seen.has(path)) seen.set(path, { stat: look(path), text: text(path), settling: false });
    }
  };
  note();
  const timer = setInterval(() => {
    note();
    let different = false;
    for (const [path, file] of seen) {
      const stat = look(path);
      if (stat !== file.stat) {
        file.stat = stat;
        file.settling = true;
      } else if (file.settling) {
        file.settling = false;
        const now = text(path);
        if (now !== file.text) different = true;
        file.text = now;
      }
    }
    if (different) changed();
  }, WATCH_INTERVAL_MS);
  return { close: () => clearInterval(timer) };
}

/**
 * The error of a listener that could not start on `hostname` because no interface of this
 * machine has that address, with the way out; other errors as they are.
 */
function listenError(error: unknown, hostname: string): unknown {
  const message = (error as Error).message;
  const lookup = /failed to lookup address|Name or service not known|nodename nor servname/i
    .test(message);
  if (!lookup && !/Cannot assign requested address|os error 99\b/.test(message)) return error;
  return new Error(
    `Cannot listen on "${hostname}": ${
      lookup ? "it is not an address or a known host name" : "no interface of this machine has it"
    }; give --hostname or listen.hostname an address of this machine, such as 127.0.0.1 ` +
      "(this machine only) or 0.0.0.0 (every interface)",
  );
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^[0-9]+$/.test(value) || port > 65535) {
    throw new UsageError(`--port takes 0 to 65535, not "${value}"`);
  }
  return port;
}
