import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { Redis } from "ioredis";
import { isSignInError } from "../../src/errors.js";
import { RedisStore } from "../../src/session/redis-store.js";
import {
  MAIN_REDIS_URL,
  captureLog,
  deleteKeysWithPrefix,
  randomPrefix,
  sleep,
} from "./helpers.js";
import { describeStoreConformance } from "./store-conformance.js";

// Every key of this run lives under one random prefix, deleted after the run.
const runPrefix = randomPrefix();
const openStores: RedisStore[] = [];
let namespaceCounter = 0;

function openStore(prefix: string): RedisStore {
  const store = new RedisStore({ url: MAIN_REDIS_URL, prefix });
  openStores.push(store);
  return store;
}

async function closeOpenStores(): Promise<void> {
  await Promise.all(openStores.splice(0).map((store) => store.close()));
}

let raw: Redis;

beforeAll(async () => {
  raw = new Redis(MAIN_REDIS_URL, { lazyConnect: true });
  try {
    await raw.connect();
  } catch (error) {
    throw new Error(`These tests need a Redis server at ${MAIN_REDIS_URL}: ${String(error)}`);
  }
});

afterAll(async () => {
  await closeOpenStores();
  await deleteKeysWithPrefix(MAIN_REDIS_URL, runPrefix);
  raw.disconnect();
});

describeStoreConformance("RedisStore", {
  open: (namespace) => {
    namespaceCounter += 1;
    return openStore(`${runPrefix}${namespace ?? `ns${namespaceCounter}`}:`);
  },
  // Redis keeps TTLs on the server's clock, so time has to pass for real. The extra 50 ms
  // cover the gap between the client's and the server's view of "now".
  elapse: (ms) => sleep(ms + 50),
  closeAll: closeOpenStores,
});

describe("RedisStore on Redis", () => {
  it("stores keys under the prefix with a server-side TTL", async () => {
    const prefix = `${runPrefix}layout:`;
    const store = openStore(prefix);
    await store.set("session", "v1", 30_000);
    await store.add("request", "v2", 20_000);

    expect(await raw.get(`${prefix}session`)).toBe("v1");
    expect(await raw.get(`${prefix}request`)).toBe("v2");
    expect(await raw.exists("session", "request")).toBe(0);

    const sessionTtl = await raw.pttl(`${prefix}session`);
    const requestTtl = await raw.pttl(`${prefix}request`);
    expect(sessionTtl).toBeGreaterThan(25_000);
    expect(sessionTtl).toBeLessThanOrEqual(30_000);
    expect(requestTtl).toBeGreaterThan(15_000);
    expect(requestTtl).toBeLessThanOrEqual(20_000);
  });

  it("rounds a fractional TTL up to whole milliseconds", async () => {
    const prefix = `${runPrefix}rounding:`;
    const store = openStore(prefix);
    await store.set("k", "v", 0.2);
    const ttl = await raw.pttl(`${prefix}k`);
    expect(ttl).toBeGreaterThanOrEqual(0);
    expect(ttl).toBeLessThanOrEqual(1);
  });

  it("rejects a non-finite TTL before sending anything", async () => {
    const store = openStore(`${runPrefix}bad-ttl:`);
    await expect(store.set("k", "v", Number.NaN)).rejects.toThrow(RangeError);
    await expect(store.add("k", "v", Number.POSITIVE_INFINITY)).rejects.toThrow(RangeError);
    expect(await store.get("k")).toBeUndefined();
  });

  it("rejects a URL that is not redis:// without echoing it", () => {
    const create = () => new RedisStore({ url: "http://user:hunter2@127.0.0.1:6379", prefix: "" });
    expect(create).toThrow(TypeError);
    expect(create).toThrow(/redis:\/\/host:port/);
    expect(create).not.toThrow(/hunter2/);
  });

  it("maps a Redis error reply to STORE_UNAVAILABLE", async () => {
    const prefix = `${runPrefix}wrong-type:`;
    const store = openStore(prefix);
    await raw.rpush(`${prefix}list`, "item");
    const error = await store.take("list").catch((caught: unknown) => caught);
    expect(isSignInError(error, "STORE_UNAVAILABLE")).toBe(true);
    expect(inspect(error, { depth: 10 })).toContain("WRONGTYPE");
    expect(inspect(error, { depth: 10 })).not.toContain("args");
  });

  it("logs a connection at info level without the URL", async () => {
    const log = captureLog();
    const store = new RedisStore({
      url: MAIN_REDIS_URL,
      prefix: `${runPrefix}log:`,
      logger: log.logger,
    });
    openStores.push(store);
    await store.ping();
    const connected = log.records().filter((record) => record.msg === "Redis store connected");
    expect(connected).toHaveLength(1);
    expect(connected[0]?.level).toBe(30);
    expect(log.text()).not.toContain("6379");
  });
});

describe("RedisStore across two service instances", () => {
  const ROUNDS = 20;
  const CALLS_PER_INSTANCE = 25;

  function twoInstances(name: string): [RedisStore, RedisStore] {
    const prefix = `${runPrefix}${name}:`;
    return [openStore(prefix), openStore(prefix)];
  }

  it("lets exactly one add win per key", async () => {
    const [first, second] = twoInstances("race-add");
    await Promise.all([first.ping(), second.ping()]);
    for (let round = 0; round < ROUNDS; round++) {
      const key = `assertion-${round}`;
      const calls: Array<Promise<boolean>> = [];
      for (let i = 0; i < CALLS_PER_INSTANCE; i++) {
        calls.push(first.add(key, `first-${i}`, 60_000));
        calls.push(second.add(key, `second-${i}`, 60_000));
      }
      const results = await Promise.all(calls);
      expect(results.filter(Boolean)).toHaveLength(1);
    }
  });

  it("lets exactly one take receive each value", async () => {
    const [first, second] = twoInstances("race-take");
    await Promise.all([first.ping(), second.ping()]);
    for (let round = 0; round < ROUNDS; round++) {
      const key = `transaction-${round}`;
      await first.set(key, `state-${round}`, 60_000);
      const calls: Array<Promise<string | undefined>> = [];
      for (let i = 0; i < CALLS_PER_INSTANCE; i++) {
        calls.push(first.take(key));
        calls.push(second.take(key));
      }
      const results = await Promise.all(calls);
      expect(results.filter((value) => value === `state-${round}`)).toHaveLength(1);
      expect(results.filter((value) => value === undefined)).toHaveLength(
        2 * CALLS_PER_INSTANCE - 1,
      );
    }
  });

  it("sees a value written by the other instance", async () => {
    const [first, second] = twoInstances("shared");
    await first.set("session", "v", 60_000);
    expect(await second.get("session")).toBe("v");
    await second.delete("session");
    expect(await first.get("session")).toBeUndefined();
  });
});
