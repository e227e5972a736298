// Helpers shared by the benchmark driver (run.js) and its child processes.
import { fork } from "node:child_process";
import { inflateRawSync } from "node:zlib";

/** Starts a benchmark child process with an IPC channel; resolves on its "ready" message. */
export function startChild(file, args = [], execArgv = []) {
  const child = fork(new URL(file, import.meta.url), args, {
    execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let nextId = 0;
  const waiting = new Map();
  let resolveReady;
  let rejectReady;
  const ready = new Promise((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  child.on("message", (message) => {
    if (message.type === "ready") {
      resolveReady(message);
      return;
    }
    const entry = waiting.get(message.id);
    if (!entry) return;
    waiting.delete(message.id);
    if (message.error) entry.reject(new Error(`${file}: ${message.error}`));
    else entry.resolve(message.result);
  });
  child.on("exit", (code) => {
    const error = new Error(`${file} exited with code ${code}`);
    rejectReady(error);
    for (const entry of waiting.values()) entry.reject(error);
    waiting.clear();
  });
  return {
    child,
    ready,
    /** Sends a command to the child and resolves with its result. */
    call(command, argsObject = {}) {
      nextId += 1;
      const id = nextId;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        child.send({ id, command, args: argsObject });
      });
    },
    stop() {
      return new Promise((resolve) => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        // A child busy in a long loop may not see SIGTERM; SIGKILL it after 5 s.
        const killTimer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        child.once("exit", () => {
          clearTimeout(killTimer);
          resolve();
        });
        child.kill("SIGTERM");
      });
    },
  };
}

/** Serves the commands of a child process: `handlers[command](args)` handles each message. */
export function serveCommands(handlers) {
  process.on("message", async (message) => {
    const handler = handlers[message.command];
    try {
      if (!handler) throw new Error(`unknown command ${message.command}`);
      const result = await handler(message.args);
      process.send({ id: message.id, result });
    } catch (error) {
      process.send({
        id: message.id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  });
  process.on("SIGTERM", () => process.exit(0));
  process.on("disconnect", () => process.exit(0));
}

/** CPU time of this process (all threads) in microseconds. */
export function cpuMicros() {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** A cookie jar kept by hand; Secure cookies are sent over loopback http too. */
export class CookieJar {
  cookies = new Map();

  store(setCookie) {
    for (const line of setCookie ?? []) {
      const [pair = "", ...attributes] = line.split(";");
      const index = pair.indexOf("=");
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      const expired = attributes.some((attr) => /expires=Thu, 01 Jan 1970/i.test(attr));
      if (value === "" || expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

/** Reads the ID of the AuthnRequest in an HTTP-Redirect binding URL. */
export function authnRequestId(location) {
  const samlRequest = new URL(location).searchParams.get("SAMLRequest") ?? "";
  const xml = inflateRawSync(Buffer.from(samlRequest, "base64")).toString("utf8");
  const id = /\sID="([^"]+)"/.exec(xml)?.[1];
  if (!id) throw new Error("no ID in the AuthnRequest");
  return id;
}

/** Returns the p-th percentile (0..100) of sorted numbers. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. */
export async function runConcurrently(count, concurrency, task) {
  let next = 0;
  const results = new Array(count);
  async function lane() {
    while (next < count) {
      const index = next;
      next += 1;
      results[index] = await task(index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return results;
}

import http from "node:http";

const keepAliveAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** Sends one HTTP request on a keep-alive connection; resolves with status, headers and body. */
export function httpRequest(url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers, agent: keepAliveAgent }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      response.on("error", reject);
    });
    request.on("error", reject);
    if (body !== undefined) request.end(body);
    else request.end();
  });
}
