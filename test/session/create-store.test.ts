import { afterAll, afterEach, describe, expect, it } from "@jest/globals";
import { createStore, REDIS_URL_ENV, type StoreConfig } from "../../src/session/create-store.js";
import { MemoryStore } from "../../src/session/memory-store.js";
import { RedisStore } from "../../src/session/redis-store.js";
import type { Store } from "../../src/session/store.js";
import {
  FakeClock,
  MAIN_REDIS_URL,
  captureLog,
  deleteKeysWithPrefix,
  freePort,
  randomPrefix,
} from "./helpers.js";

const runPrefix = randomPrefix();
const stores: Store[] = [];

function create(...args: Parameters<typeof createStore>): Store {
  const store = createStore(...args);
  stores.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  await deleteKeysWithPrefix(MAIN_REDIS_URL, runPrefix);
});

describe("createStore", () => {
  it("creates a MemoryStore with the configured bound and clock", async () => {
    const clock = new FakeClock();
    const store = create({ type: "memory", maxEntries: 2 }, { clock, env: {} });
    expect(store).toBeInstanceOf(MemoryStore);

    await store.set("oidc-tx:x:a", "1", 1_000);
    await store.set("oidc-tx:x:b", "2", 60_000);
    await store.set("oidc-tx:x:c", "3", 60_000);
    expect(await store.get("oidc-tx:x:a")).toBeUndefined();

    clock.advance(60_000);
    expect(await store.get("oidc-tx:x:b")).toBeUndefined();
  });

  it("creates a RedisStore with the configured URL and prefix", async () => {
    const config: StoreConfig = { type: "redis", url: MAIN_REDIS_URL, prefix: `${runPrefix}a:` };
    const store = create(config, { env: {} });
    const samePrefix = create(config, { env: {} });
    const otherPrefix = create({ ...config, prefix: `${runPrefix}b:` }, { env: {} });
    expect(store).toBeInstanceOf(RedisStore);

    await store.set("k", "v", 60_000);
    expect(await samePrefix.get("k")).toBe("v");
    expect(await otherPrefix.get("k")).toBeUndefined();
  });

  it("takes the Redis URL from the environment variable first", async () => {
    const deadUrl = `redis://127.0.0.1:${await freePort()}`;
    const config: StoreConfig = { type: "redis", url: deadUrl, prefix: `${runPrefix}env:` };

    const fromConfig = create(config, { env: {} });
    await expect(fromConfig.ping()).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });

    const fromEmptyVariable = create(config, { env: { [REDIS_URL_ENV]: "" } });
    await expect(fromEmptyVariable.ping()).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });

    const fromVariable = create(config, { env: { [REDIS_URL_ENV]: MAIN_REDIS_URL } });
    await expect(fromVariable.ping()).resolves.toBeUndefined();
  });

  it("logs where the Redis URL came from without the URL", async () => {
    const log = captureLog();
    // Nothing listens on this port, so the password is never sent.
    const url = `redis://:hunter2@127.0.0.1:${await freePort()}`;
    create(
      { type: "redis", url: MAIN_REDIS_URL, prefix: `${runPrefix}log:` },
      { logger: log.logger, env: { [REDIS_URL_ENV]: url } },
    );
    const records = log.records().filter((r) => r.msg === "Using the Redis session store");
    expect(records).toHaveLength(1);
    expect(records[0]?.urlSource).toBe(REDIS_URL_ENV);
    expect(log.text()).not.toContain("hunter2");
  });

  it("warns that the variable is ignored by the memory store", () => {
    const log = captureLog();
    const store = create(
      { type: "memory", maxEntries: 10 },
      { logger: log.logger, env: { [REDIS_URL_ENV]: MAIN_REDIS_URL } },
    );
    expect(store).toBeInstanceOf(MemoryStore);
    const warnings = log.records().filter((r) => String(r.msg).includes(REDIS_URL_ENV));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.level).toBe(40);
  });
});
