// The machine a benchmark ran on, for the report: CPU, memory, OS, Deno, the tools' versions,
// hero-relay's commit and the load average.

import { fileURLToPath } from "node:url";
import { proc } from "./processes.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What the report says about the machine. */
export interface Machine {
  cpus: number;
  cpuModel: string;
  /** Total memory in GiB, or null where /proc/meminfo could not be read. */
  memoryGiB: number | null;
  os: string;
  osRelease: string;
  arch: string;
  deno: string;
  v8: string;
  /** The first line of each tool's version output, "not installed" or "unknown". */
  wrk: string;
  webhook: string;
  /** `git describe --always --dirty` of the checkout. */
  heroRelay: string;
  /** The 1, 5 and 15 minute load averages ("2.40, 2.34, 1.67"), or "unknown". */
  loadAtStart: string;
  loadAtEnd: string;
}

/** The 1, 5 and 15 minute load averages, as "1.00, 0.50, 0.25", or "unknown". */
export function loadAverage(): string {
  try {
    return proc("/proc/loadavg").split(" ").slice(0, 3).join(", ");
  } catch {
    return "unknown";
  }
}

async function version(command: string | null, args: string[]): Promise<string> {
  if (command === null) return "not installed";
  const out = await new Deno.Command(command, {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  })
    .output().catch(() => null);
  if (out === null) return "unknown";
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return text.split("\n")[0]!.trim();
}

/** Describes this machine; the load average at the end is read now. */
export async function describeMachine(
  tools: { wrk: string | null; webhook: string | null; loadAtStart: string },
): Promise<Machine> {
  const read = (path: string) => {
    try {
      return proc(path);
    } catch {
      return "";
    }
  };
  const cpuinfo = read("/proc/cpuinfo");
  const meminfo = read("/proc/meminfo");
  const memKb = /^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1];
  const wrk = await version(tools.wrk, ["-v"]);
  const webhook = await version(tools.webhook, ["-version"]);
  const heroRelay = await version("git", ["describe", "--always", "--dirty"]);
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown CPU",
    memoryGiB: memKb === undefined ? null : Number(memKb) / 1024 / 1024,
    os: Deno.build.os,
    osRelease: Deno.osRelease(),
    arch: Deno.build.arch,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    wrk,
    webhook,
    heroRelay,
    loadAtStart: tools.loadAtStart,
    loadAtEnd: loadAverage(),
  };
}
