// hero-relay's command line: finds the command and runs it, turning its errors into exit codes.
// Each command, with its help text, lives in src/cli/; the relay itself in src/.

import denoJson from "./deno.json" with { type: "json" };
import { serveCommand } from "./src/cli/serve.ts";
import {
  checkCommand,
  eventsCommand,
  renderCommand,
  schemaCommand,
} from "./src/cli/config_commands.ts";
import {
  deliveriesCommand,
  enableCommand,
  pauseCommand,
  replayCommand,
  resumeCommand,
} from "./src/cli/store_commands.ts";
import {
  registerCommand,
  sendTestCommand,
  signCommand,
} from "./src/cli/influencer_hero_commands.ts";
import { type Command, print, printError, UsageError } from "./src/cli/shared.ts";
import { ConfigError } from "./src/config.ts";

const VERSION: string = denoJson.version;

const USAGE =
  `hero-relay ${VERSION}: receive Influencer Hero webhooks, verify, store, route, deliver.

Usage: hero-relay <command> [options]

Commands:
  serve       Run the relay
  check       Validate the config and print the routing table
  deliveries  List deliveries in the store
  replay      Deliver a delivery again, or every dead one
  enable      Enable a destination that was disabled because its endpoint was gone
  pause       Pause a destination by hand: its deliveries wait until resumed
  resume      Resume a destination paused by hand
  render      Show exactly what an event would send to each destination (sends nothing)
  send-test   Send correctly signed sample events to a running relay
  register    Register the relay's URLs with Influencer Hero (one per event type)
  sign        Print the headers Influencer Hero would send for a body on standard input
  events      List the known event types, or print one's sample payload
  schema      Print the config's JSON Schema

Options:
  -h, --help     Show help (also: hero-relay <command> --help)
  -V, --version  Show the version

Run "hero-relay <command> --help" for a command's options.
`;

const COMMANDS: Record<string, Command> = {
  serve: serveCommand,
  check: checkCommand,
  deliveries: deliveriesCommand,
  replay: replayCommand,
  enable: enableCommand,
  pause: pauseCommand,
  resume: resumeCommand,
  render: renderCommand,
  "send-test": sendTestCommand,
  register: registerCommand,
  sign: signCommand,
  events: eventsCommand,
  schema: schemaCommand,
};

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined || first === "-h" || first === "--help" || first === "help") {
    print(USAGE);
    return first === undefined ? 2 : 0;
  }
  if (first === "-V" || first === "--version") {
    print(`hero-relay ${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[first];
  if (command === undefined) {
    printError(`Unknown command "${first}". Run "hero-relay --help" for the list.\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      printError(`${error.message}\nRun "hero-relay ${first} --help" for usage.\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      printError(error.message + "\n");
      return 1;
    }
    printError(`Error: ${(error as Error).message}\n`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
