import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { pino, type Logger } from "pino";
import type { Clock } from "../../src/clock.js";

/** The machine's Redis server that the Redis tests run against. */
export const MAIN_REDIS_URL = "redis://127.0.0.1:6379";

/** Clock that moves only when a test calls {@link FakeClock.advance}. */
export class FakeClock implements Clock {
  constructor(private current = 1_700_000_000_000) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    this.current += ms;
  }
}

/** Returns a key prefix that no other test run uses, such as `fs-test:3f2a…:`. */
export function randomPrefix(): string {
  return `fs-test:${randomUUID()}:`;
}

/** Deletes every key under `prefix` on the Redis server at `url`. */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true });
  try {
    await client.connect();
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== "0");
  } finally {
    client.disconnect();
  }
}

/** Returns a loopback TCP port that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no TCP port assigned");
  return address.port;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 20 ms until it is true, and rejects after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A real pino logger that writes JSON lines into memory. */
export interface CapturedLog {
  logger: Logger;
  /** Parsed log records, oldest first. */
  records(): Array<Record<string, unknown>>;
  /** Every line as written, for checks that a value never reaches the log. */
  text(): string;
}

export function captureLog(): CapturedLog {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(
        ...chunk
          .toString("utf8")
          .split("\n")
          .filter((line) => line !== ""),
      );
      callback();
    },
  });
  return {
    logger: pino({ level: "trace" }, destination),
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    text: () => lines.join("\n"),
  };
}

/** Records whose `msg` contains `fragment`. */
export function recordsWith(log: CapturedLog, fragment: string): Array<Record<string, unknown>> {
  return log.records().filter((record) => String(record.msg).includes(fragment));
}

/** Path of `redis-server`, or undefined when it is not on PATH. */
export function findRedisServer(): string | undefined {
  const result = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  const found = result.stdout.trim();
  return result.status === 0 && found !== "" ? found : undefined;
}

/**
 * A throwaway `redis-server` child process on a loopback port, without persistence, so tests
 * can stop, pause and restart Redis without touching the machine's main server.
 */
export class ChildRedisServer {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(path.join(tmpdir(), "fs-redis-test-"));

  constructor(
    private readonly executable: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Whether the process was started and has not exited. A paused process counts as running. */
  get running(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Starts the server and resolves once it accepts connections. */
  async start(): Promise<void> {
    const child = spawn(
      this.executable,
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.dir,
        "--daemonize",
        "no",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`redis-server on port ${this.port} did not start within 5 s:\n${output}`));
      }, 5_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString("utf8");
        if (output.includes("Ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with code ${code}:\n${output}`));
      });
    });
  }

  /** Sends `signal` and, unless it only pauses or resumes the process, waits for the exit. */
  async signal(signal: "SIGTERM" | "SIGKILL" | "SIGSTOP" | "SIGCONT"): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    if (signal === "SIGSTOP" || signal === "SIGCONT") {
      child.kill(signal);
      return;
    }
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    await exited;
    this.child = undefined;
  }

  /** Kills the server if it still runs and removes its working folder. */
  async dispose(): Promise<void> {
    await this.signal("SIGCONT");
    await this.signal("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}
