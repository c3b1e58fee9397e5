// Group commit's other half: SQLite commits without flushing (synchronous=NORMAL writes the WAL
// frames but skips the fsync), then the WAL file is fdatasync'ed here, on Deno's I/O threads, and
// only then does the caller hear that its transaction is durable. That is the same guarantee as
// synchronous=FULL, which runs the same fdatasync inside COMMIT, but the JavaScript thread keeps
// verifying and answering requests while the disk works, and one flush serves every commit made
// before it started.

import { dirname } from "node:path";

/** Flushes a WAL file to disk, sharing each flush among all the commits that wait for it. */
export class WalSync {
  #path: string;
  #file: Deno.FsFile;
  #inode: number | null;
  #running: Promise<void> | null = null;
  #queued: Promise<void> | null = null;

  private constructor(path: string, file: Deno.FsFile) {
    this.#path = path;
    this.#file = file;
    this.#inode = file.statSync().ino;
  }

  /**
   * Opens the WAL file of the open database at `databasePath` (SQLite puts it beside the file a
   * symlink points to) and flushes its folder once, so the file's name survives a power loss.
   * Null when there is no such file, and SQLite must keep flushing in COMMIT.
   */
  static find(databasePath: string): WalSync | null {
    let path: string;
    let file: Deno.FsFile;
    try {
      path = `${Deno.realPathSync(databasePath)}-wal`;
      file = Deno.openSync(path, { read: true, write: true });
    } catch {
      return null;
    }
    syncFolder(path);
    return new WalSync(path, file);
  }

  /**
   * Resolves once everything written to the WAL before this call is on disk. A flush already
   * running may have started before the caller's commit, so callers arriving during one share
   * the next.
   */
  sync(): Promise<void> {
    if (this.#running === null) return this.#start();
    this.#queued ??= this.#running.then(noop, noop).then(() => {
      this.#queued = null;
      return this.#start();
    });
    return this.#queued;
  }

  /** Resolves once every flush asked for so far is done: all committed transactions are on disk. */
  settled(): Promise<void> {
    return (this.#queued ?? this.#running ?? Promise.resolve()).catch(noop);
  }

  #start(): Promise<void> {
    const run = this.#flush().finally(() => {
      if (this.#running === run) this.#running = null;
    });
    this.#running = run;
    return run;
  }

  async #flush(): Promise<void> {
    // SQLite keeps one WAL file while a connection is open; if it was ever replaced, flush the
    // file that now has the name, not the one this handle still points to.
    let inode: number | null = null;
    try {
      inode = Deno.statSync(this.#path).ino;
    } catch {
      // gone: SQLite removes it only when the last connection closes
    }
    if (inode !== null && inode !== this.#inode) {
      this.#file.close();
      this.#file = Deno.openSync(this.#path, { read: true, write: true });
      this.#inode = this.#file.statSync().ino;
    }
    await this.#file.syncData();
  }

  /** Waits for flushes under way, then closes the file handle. */
  async close(): Promise<void> {
    await (this.#queued ?? this.#running)?.catch(noop);
    this.#file.close();
  }
}

function noop(): void {}

function syncFolder(path: string): void {
  try {
    const dir = Deno.openSync(dirname(path), { read: true });
    try {
      dir.syncSync();
    } finally {
      dir.close();
    }
  } catch {
    // Not every platform can open or flush a folder (Windows); SQLite's own syncs still apply.
  }
}
