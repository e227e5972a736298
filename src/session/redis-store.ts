import { Redis } from "ioredis";
import type { Logger } from "pino";
import { systemClock, type Clock } from "../clock.js";
import { storeUnavailable, type Store } from "./store.js";

/** Options for {@link RedisStore}. */
export interface RedisStoreOptions {
  /** `redis://` or `rediss://` (TLS) URL, optionally with user, password and database number. */
  url: string;
  /** Prepended to every key, so several services or environments can share one database. */
  prefix: string;
  /** Receives connection events and errors. Values, keys and the URL are never logged. */
  logger?: Logger;
  /** Clock for rate-limiting the error log. TTLs are kept by the Redis server's own clock. */
  clock?: Clock;
  /**
   * Maximum time for one command, in milliseconds, after which it rejects with
   * STORE_UNAVAILABLE and the connection is closed and opened again. Bounds the wait when Redis
   * keeps the connection open but does not reply.
   */
  commandTimeoutMs?: number;
  /** Maximum time to open the TCP (or TLS) connection, in milliseconds. */
  connectTimeoutMs?: number;
  /** Minimum time between two logged client errors, in milliseconds. Skipped errors are counted. */
  errorLogIntervalMs?: number;
}

/** Default of {@link RedisStoreOptions.commandTimeoutMs}. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 1_000;
/** Default of {@link RedisStoreOptions.connectTimeoutMs}. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Default of {@link RedisStoreOptions.errorLogIntervalMs}. */
export const DEFAULT_ERROR_LOG_INTERVAL_MS = 60_000;

/** Maximum delay between two reconnection attempts, in milliseconds. */
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * SADD, then extends the set's TTL to ARGV[2] milliseconds unless it is longer already. One
 * script, so two instances adding to one set cannot shorten each other's TTL. (PEXPIRE's GT
 * flag would do the same, but needs Redis 7.)
 */
const ADD_TO_SET_SCRIPT = `
redis.call("SADD", KEYS[1], ARGV[1])
local ttl = redis.call("PTTL", KEYS[1])
if ttl < tonumber(ARGV[2]) then redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
return 1`;

/** Message of the error that ioredis 5 raises when `commandTimeout` expires. */
const COMMAND_TIMEOUT_MESSAGE = "Command timed out";

/**
 * Store on a Redis server (6.2 or later, because {@link RedisStore.take} uses GETDEL), shared by
 * every instance of the service. Atomicity comes from single Redis commands: `add` is
 * `SET key value PX ttl NX` and `take` is `GETDEL`, so two instances racing on one key see one
 * winner.
 *
 * Failure behaviour: commands are never queued while the connection is down, so every command
 * issued during an outage rejects at once with STORE_UNAVAILABLE. The client keeps reconnecting
 * in the background, and commands succeed again once it has reconnected. Only commands issued
 * while the very first connection attempt is in progress wait for it, at most
 * `commandTimeoutMs`.
 */
export class RedisStore implements Store {
  private readonly client: Redis;
  private readonly prefix: string;
  private readonly logger: Logger | undefined;
  private readonly clock: Clock;
  private readonly commandTimeoutMs: number;
  private readonly errorLogIntervalMs: number;
  /** Settles when the first connection attempt succeeds or fails, and is cleared then. */
  private firstConnectAttempt: Promise<void> | undefined;
  private connected = false;
  /** Set while a connection closed by {@link reconnectAfterTimeout} has not closed yet. */
  private reconnectRequested = false;
  private lastErrorLoggedAt: number | undefined;
  private errorsNotLogged = 0;

  constructor(options: RedisStoreOptions) {
    assertRedisUrl(options.url);
    this.prefix = options.prefix;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.errorLogIntervalMs = options.errorLogIntervalMs ?? DEFAULT_ERROR_LOG_INTERVAL_MS;

    this.client = new Redis(options.url, {
      connectionName: "federated-signin",
      // Commands issued while disconnected reject immediately instead of waiting in ioredis's
      // offline queue for a reconnection, which may take minutes.
      enableOfflineQueue: false,
      // A command that got no reply before the connection closed rejects at once (0 means no
      // retry). It is never sent again after reconnecting, because a repeated GETDEL or SET NX
      // could report "missing" or "already added" for a value that this caller consumed.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // ioredis's own socketTimeout is not used, because in 5.11 its timer survives a
      // reconnection and then destroys the new connection. A timed-out command closes the
      // connection instead (see reconnectAfterTimeout).
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      // close() disconnects only when the connection is not ready. ioredis then waits up to
      // this long (its default is 2 s) for the socket to close, which has often closed already.
      disconnectTimeout: 500,
      // Reconnect forever: after 100 ms, 200 ms, ... then every 2 s.
      retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    });

    this.firstConnectAttempt = new Promise((resolve) => {
      const settle = () => {
        this.client.off("ready", settle).off("close", settle).off("end", settle);
        this.firstConnectAttempt = undefined;
        resolve();
      };
      this.client.on("ready", settle).on("close", settle).on("end", settle);
    });
    // Without an "error" listener, ioredis 5 prints every connection error to stderr.
    this.client.on("error", (error: unknown) => this.logClientError(error));
    this.client.on("ready", () => this.onReady());
    this.client.on("close", () => this.onClose());
  }

  async get(key: string): Promise<string | undefined> {
    const value = await this.run(() => this.client.get(this.prefix + key));
    return value ?? undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    const ttl = toWholeMs(ttlMs);
    if (ttl <= 0) {
      await this.delete(key);
      return;
    }
    await this.run(() => this.client.set(this.prefix + key, value, "PX", ttl));
  }

  async add(key: string, value: string, ttlMs: number): Promise<boolean> {
    const ttl = toWholeMs(ttlMs);
    if (ttl <= 0) {
      // Same result as MemoryStore: nothing is stored, and the call returns true when the key
      // has no live value.
      const count = await this.run(() => this.client.exists(this.prefix + key));
      return count === 0;
    }
    const reply = await this.run(() => this.client.set(this.prefix + key, value, "PX", ttl, "NX"));
    return reply === "OK";
  }

  async take(key: string): Promise<string | undefined> {
    const value = await this.run(() => this.client.getdel(this.prefix + key));
    return value ?? undefined;
  }

  async delete(key: string): Promise<void> {
    await this.run(() => this.client.del(this.prefix + key));
  }

  async replace(key: string, value: string, ttlMs: number): Promise<boolean> {
    const ttl = toWholeMs(ttlMs);
    if (ttl <= 0) {
      const count = await this.run(() => this.client.del(this.prefix + key));
      return count > 0;
    }
    const reply = await this.run(() => this.client.set(this.prefix + key, value, "PX", ttl, "XX"));
    return reply === "OK";
  }

  async addToSet(key: string, member: string, ttlMs: number): Promise<void> {
    const ttl = toWholeMs(ttlMs);
    if (ttl <= 0) return;
    await this.run(() => this.client.eval(ADD_TO_SET_SCRIPT, 1, this.prefix + key, member, ttl));
  }

  async members(key: string): Promise<string[]> {
    return this.run(() => this.client.smembers(this.prefix + key));
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    await this.run(() => this.client.srem(this.prefix + key, member));
  }

  async countKeys(keyPrefix: string): Promise<number> {
    const pattern = `${escapeGlob(this.prefix + keyPrefix)}*`;
    let cursor = "0";
    let count = 0;
    do {
      const [next, keys] = await this.run(() =>
        this.client.scan(cursor, "MATCH", pattern, "COUNT", 1000),
      );
      cursor = next;
      count += keys.length;
    } while (cursor !== "0");
    return count;
  }

  async ping(): Promise<void> {
    await this.run(() => this.client.ping());
  }

  /** Closes the connection. Resolves even when Redis is unreachable. */
  async close(): Promise<void> {
    if (this.client.status === "end") return;
    if (this.client.status === "ready") {
      try {
        await this.client.quit();
        return;
      } catch {
        // The connection broke during QUIT; disconnect below stops the reconnection loop.
      }
    }
    this.client.disconnect();
  }

  /** Runs one command and turns every failure into STORE_UNAVAILABLE. */
  private async run<T>(command: () => Promise<T>): Promise<T> {
    await this.waitForFirstConnectAttempt();
    try {
      return await command();
    } catch (error) {
      if ((error as Partial<Error> | undefined)?.message === COMMAND_TIMEOUT_MESSAGE) {
        this.reconnectAfterTimeout();
      }
      throw storeUnavailable(withoutCommandArguments(error));
    }
  }

  /**
   * Closes a connection on which a command timed out and lets the client open a new one. A
   * stalled server or a silently dropped network path would otherwise keep the connection open
   * until the operating system gives up on it, which takes minutes.
   */
  private reconnectAfterTimeout(): void {
    if (this.reconnectRequested || this.client.status !== "ready") return;
    this.reconnectRequested = true;
    this.logger?.warn(
      { commandTimeoutMs: this.commandTimeoutMs },
      "Redis store command timed out; closing the connection and opening a new one",
    );
    this.client.disconnect(true);
  }

  private async waitForFirstConnectAttempt(): Promise<void> {
    const attempt = this.firstConnectAttempt;
    if (attempt === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.commandTimeoutMs);
    });
    try {
      await Promise.race([attempt, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private onReady(): void {
    this.connected = true;
    this.logger?.info({ errorsNotLogged: this.takeErrorsNotLogged() }, "Redis store connected");
  }

  private onClose(): void {
    this.reconnectRequested = false;
    if (!this.connected) return;
    this.connected = false;
    if (this.client.status === "end") return;
    this.logger?.warn("Redis store connection lost; reconnecting in the background");
  }

  /** Logs at most one client error per `errorLogIntervalMs` and counts the rest. */
  private logClientError(error: unknown): void {
    if (this.logger === undefined) return;
    const now = this.clock.now();
    const last = this.lastErrorLoggedAt;
    if (last !== undefined && now - last < this.errorLogIntervalMs) {
      this.errorsNotLogged += 1;
      return;
    }
    this.lastErrorLoggedAt = now;
    this.logger.error(
      { err: describeError(error), errorsNotLogged: this.takeErrorsNotLogged() },
      "Redis store client error; commands fail with STORE_UNAVAILABLE until it reconnects",
    );
  }

  private takeErrorsNotLogged(): number {
    const count = this.errorsNotLogged;
    this.errorsNotLogged = 0;
    return count;
  }
}

/** Rejects URLs that ioredis would misread, without echoing them (they may contain a password). */
function assertRedisUrl(url: string): void {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new TypeError("Invalid Redis URL: write it as redis://host:port or rediss://host:port");
  }
  if (protocol !== "redis:" && protocol !== "rediss:") {
    throw new TypeError(
      `Invalid Redis URL scheme "${protocol}": write it as redis://host:port or rediss://host:port`,
    );
  }
}

/** Rounds a TTL up to whole milliseconds, because Redis accepts only integers for PX. */
function toWholeMs(ttlMs: number): number {
  if (!Number.isFinite(ttlMs)) {
    throw new RangeError(`Invalid TTL ${ttlMs}: pass a finite number of milliseconds`);
  }
  return Math.ceil(ttlMs);
}

/**
 * Returns the error without the `command` field that ioredis adds to Redis error replies. That
 * field contains the command's arguments, which include the stored value (a session or a token).
 */
function withoutCommandArguments(error: unknown): unknown {
  if (typeof error !== "object" || error === null || !("command" in error)) return error;
  const { name, message, stack } = error as Partial<Error>;
  const copy = new Error(String(message));
  copy.name = String(name);
  copy.stack = stack;
  return copy;
}

/**
 * Name, message and code of an error, for the log. Reads the fields without `instanceof`,
 * because socket errors may come from another realm (for example under Jest's VM modules).
 */
function describeError(error: unknown): Record<string, string | undefined> {
  if (typeof error !== "object" || error === null) return { message: String(error) };
  const { name, message, code } = error as Partial<NodeJS.ErrnoException>;
  return { name, message, code };
}

/** Escapes Redis glob characters, so a key prefix matches only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}
