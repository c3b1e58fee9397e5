// The HTTP listener, on `node:http`: `Deno.serve` has no connection timeouts, and running out of
// file descriptors in its accept loop ends the process. Here every connection is counted and
// capped, an idle or header-less connection is closed after its timeout, and at the cap the
// longest-idle connection makes room for a new one, so idle sockets can never lock out a sender.
// Requests reach the handler as a `Request`, and its `Response` is written back whole.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** How many connections a listener keeps and how long each may wait. */
export interface ListenerLimits {
  /** Connections open at once; at the cap the longest-idle one is closed to admit a new one. */
  maxConnections: number;
  /** A keep-alive connection with no request in progress is closed after this (ms). */
  idleTimeoutMs: number;
  /** Time a connection has to send a request's headers (ms). */
  headersTimeoutMs: number;
  /** Time a connection has to send a whole request (ms); the handler's body deadline comes first. */
  requestTimeoutMs: number;
}

export interface ListenerOptions {
  hostname: string;
  port: number;
  /** Read for every new connection, so a reload's limits apply to the next ones. */
  limits: () => ListenerLimits;
  handler: (request: Request) => Promise<Response>;
  /** Called when a connection is closed to make room for a new one (or the new one refused). */
  onEvicted?: () => void;
  /**
   * Called when the listener found that it no longer accepted connections and listened again
   * (error null), or could not yet (it tries again at the next probe). The runtime's accept loop
   * ends for good when accept() fails for lack of descriptors; a probe every `probeMs` (default
   * 5 s) connects to the listener to find out.
   */
  onRelisten?: (error: Error | null) => void;
  probeMs?: number;
}

export interface Listener {
  addr: Deno.NetAddr;
  /** Connections open now, and those closed to make room since the start. */
  stats(): { connections: number; evicted: number };
  /**
   * Stops accepting, closes idle connections, lets requests in progress answer, then closes
   * every connection left.
   */
  close(): Promise<void>;
}

interface Connection {
  /** Requests on it that have not answered yet. */
  active: number;
  /** When it last became idle (performance.now()). */
  idleSince: number;
  /** Destroyed to make room; it still holds its descriptor until its close event. */
  closing: boolean;
}

/** Starts a listener; rejects with a readable reason when the address cannot be taken. */
export async function listen(options: ListenerOptions): Promise<Listener> {
  const connections = new Map<Socket, Connection>();
  let evicted = 0;
  let inFlight = 0;
  let drained: (() => void) | null = null;
  let base = "";
  let probeHost = "";

  const server = createServer({ connectionsCheckingInterval: 1_000 }, (req, res) => {
    const connection = connections.get(req.socket);
    if (connection !== undefined) connection.active++;
    inFlight++;
    answer(req, res, base, options.handler).finally(() => {
      if (connection !== undefined) {
        connection.active--;
        connection.idleSince = performance.now();
      }
      if (--inFlight === 0) drained?.();
    });
  });

  const apply = (limits: ListenerLimits) => {
    server.keepAliveTimeout = limits.idleTimeoutMs;
    server.headersTimeout = limits.headersTimeoutMs;
    server.requestTimeout = Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs + 1);
  };
  apply(options.limits());

  // While a probe is out, the local ports of connections from the probe's address: its own
  // may be accepted before its connect() has told it which port it has.
  let probeSeen: Set<number> | null = null;
  server.on("connection", (socket: Socket) => {
    if (probeSeen !== null && socket.remoteAddress === probeHost) {
      probeSeen.add(socket.remotePort ?? -1);
    }
    const limits = options.limits();
    apply(limits);
    // A connection counts until its descriptor is closed, so evictions under a flood of new
    // connections never take the process past its open-file limit.
    if (connections.size >= limits.maxConnections) {
      const victim = longestIdle(connections);
      evicted++;
      options.onEvicted?.();
      if (victim === null) {
        socket.destroy();
        return;
      }
      victim[1].closing = true;
      victim[0].destroy();
    }
    connections.set(socket, { active: 0, idleSince: performance.now(), closing: false });
    socket.once("close", () => connections.delete(socket));
  });
  // A client that sends garbage or stops mid-request gets the answer Node gives (400, 408 or
  // 431) when its socket can still take one; nothing it does reaches the process.
  server.on("clientError", (error: Error & { code?: string }, socket: Socket) => {
    if (!socket.writable || error.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    const status = error.code === "HPE_HEADER_OVERFLOW"
      ? "431 Request Header Fields Too Large"
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? "408 Request Timeout"
      : "400 Bad Request";
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });

  const addr = await new Promise<Deno.NetAddr>((resolve, reject) => {
    const failed = (error: Error & { code?: string }) => reject(listenFailure(error, options));
    server.once("error", failed);
    server.listen({ host: options.hostname, port: options.port }, () => {
      server.off("error", failed);
      const address = server.address();
      if (address === null || typeof address === "string") {
        reject(new Error("The listener has no TCP address"));
        return;
      }
      resolve({ transport: "tcp", hostname: address.address, port: address.port });
    });
  });
  // Errors after the start (a failed accept, or a failed listen again) are the probe's to mend.
  server.on("error", () => {});
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  base = `http://${host}:${addr.port}`;

  probeHost = addr.hostname === "0.0.0.0"
    ? "127.0.0.1"
    : addr.hostname === "::"
    ? "::1"
    : addr.hostname;
  // The probe: a connection to itself, which a live accept loop takes within a second or two.
  // Two misses in a row and the listener listens again on the same address: requests in progress
  // finish (closing the old server closes only idle connections), and the new accept loop starts
  // with whatever descriptors have been freed since.
  let misses = 0;
  let probing: Promise<void> | null = null;
  let stopping = false;
  const relisten = () =>
    new Promise<Error | null>((resolve) => {
      server.close();
      const failed = (error: Error) => {
        server.off("listening", listening);
        resolve(error);
      };
      const listening = () => {
        server.off("error", failed);
        resolve(null);
      };
      server.once("error", failed);
      server.once("listening", listening);
      server.listen({ host: options.hostname, port: addr.port });
    });
  const probe = async () => {
    const seen = probeSeen = new Set<number>();
    let accepted = false;
    let conn: Deno.Conn | null = null;
    try {
      conn = await Deno.connect({ hostname: probeHost, port: addr.port });
      const port = (conn.localAddr as Deno.NetAddr).port;
      for (let waited = 0; !stopping && waited < 2_000 && !seen.has(port); waited += 50) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      accepted = seen.has(port);
    } catch (error) {
      // Out of descriptors here says nothing about the accept loop: wait for the next probe.
      if (/os error 24/.test(String(error))) return;
    } finally {
      probeSeen = null;
      conn?.close();
    }
    if (stopping) return;
    misses = accepted ? 0 : misses + 1;
    if (misses < 2) return;
    const error = await relisten();
    if (error === null) misses = 0;
    options.onRelisten?.(error);
  };
  const prober = setInterval(() => {
    probing ??= probe().finally(() => probing = null);
  }, options.probeMs ?? 5_000);

  let closed: Promise<void> | null = null;
  return {
    addr,
    stats: () => ({ connections: connections.size, evicted }),
    close() {
      closed ??= (async () => {
        clearInterval(prober);
        stopping = true;
        await probing;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight > 0) await new Promise<void>((resolve) => drained = resolve);
        server.closeAllConnections();
        for (const socket of connections.keys()) socket.destroy();
        await stopped;
      })();
      return closed;
    },
  };
}

/** The open connection that has been idle longest, or null when every one has a request. */
function longestIdle(connections: Map<Socket, Connection>): [Socket, Connection] | null {
  let victim: [Socket, Connection] | null = null;
  let since = Infinity;
  for (const [socket, connection] of connections) {
    if (connection.active === 0 && !connection.closing && connection.idleSince < since) {
      victim = [socket, connection];
      since = connection.idleSince;
    }
  }
  return victim;
}

/** Hands one request to the handler and writes its response; never throws. */
async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  base: string,
  handler: (request: Request) => Promise<Response>,
): Promise<void> {
  let response: Response;
  try {
    response = await handler(toRequest(req, base));
  } catch {
    response = new Response(null, { status: 400 });
  }
  let body: Uint8Array | null = null;
  try {
    body = response.body === null ? null : await response.bytes();
  } catch {
    response = new Response(null, { status: 500 });
  }
  if (res.destroyed) return;
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => headers[name] = value);
  // A body not read to its end (a 408, 413 or 503) leaves the connection unusable: it is closed
  // once the answer is out.
  if (!req.complete) headers["connection"] = "close";
  headers["content-length"] = String(body?.byteLength ?? 0);
  await new Promise<void>((resolve) => {
    res.once("close", resolve);
    try {
      res.writeHead(response.status, headers);
      res.end(body ?? undefined);
    } catch {
      res.destroy();
    }
  });
}

/** The body as a stream; cancelling it stops reading but leaves the socket for the answer. */
function bodyStream(req: IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on("data", (chunk: Uint8Array) => {
        controller.enqueue(chunk);
        if ((controller.desiredSize ?? 0) <= 0) req.pause();
      });
      req.once("end", () => controller.close());
      req.once("error", (error) => controller.error(error));
      req.once("aborted", () => controller.error(new Error("The client went away")));
    },
    pull() {
      req.resume();
    },
    cancel() {
      req.removeAllListeners("data");
      req.pause();
    },
  }, { highWaterMark: 4 });
}

/**
 * The request as the handler reads it; its body streams from the socket. The headers are added to
 * the request's own (a body stream sets none): handing `Headers` to the constructor would copy
 * them all again, the largest cost of a webhook's way through the listener. An origin-form target
 * ("/hooks/x") is joined to the base as text rather than parsed twice.
 */
function toRequest(req: IncomingMessage, base: string): Request {
  const method = req.method ?? "GET";
  const noBody = method === "GET" || method === "HEAD";
  const target = req.url ?? "/";
  // "//host/path" is a path here, not another host.
  const url = target.startsWith("/") ? base + target : new URL(target, base).href;
  const request = new Request(url, {
    method,
    body: noBody ? null : bodyStream(req),
    // @ts-ignore: Deno's RequestInit takes `duplex` for a streamed body
    duplex: "half",
  });
  const headers = request.headers;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return request;
}

/** Why the address could not be taken, in the words the CLI turns into advice. */
function listenFailure(error: Error & { code?: string }, options: ListenerOptions): Error {
  const where = `${options.hostname}:${options.port}`;
  switch (error.code) {
    case "EADDRINUSE":
      return new Error(`Address ${where} is already in use (os error 98)`);
    case "EADDRNOTAVAIL":
      return new Error(`Cannot assign requested address ${where} (os error 99)`);
    case "EACCES":
      return new Error(`Permission denied to listen on ${where} (os error 13)`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return new Error(`failed to lookup address information for ${options.hostname}`);
    default:
      return new Error(`Cannot listen on ${where}: ${error.message}`);
  }
}

/**
 * The connection cap when the config sets none: a quarter of the descriptors the process can
 * still open (the rest is for the store, outbound deliveries, the runtime, and connections being
 * closed), at least 32 and at most 512. Deno does not let a program without --allow-all read
 * its limit from /proc, so it is counted: `probe` (any readable file) is opened until the OS
 * refuses or 2,048 are open (some 20 ms), and every one is closed again.
 */
export function defaultMaxConnections(probe = Deno.execPath()): number {
  const files: Deno.FsFile[] = [];
  let free = 2_048;
  try {
    while (files.length < 2_048) files.push(Deno.openSync(probe));
  } catch (error) {
    // Anything but "too many open files" says nothing about the limit: assume the usual 1,024.
    free = /os error 24/.test(String(error)) ? files.length : 1_024;
  } finally {
    for (const file of files) file.close();
  }
  return Math.min(512, Math.max(32, Math.floor(free / 4)));
}
