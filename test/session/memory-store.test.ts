import { afterEach, describe, expect, it } from "@jest/globals";
import { MemoryStore } from "../../src/session/memory-store.js";
import { FakeClock } from "./helpers.js";
import { describeStoreConformance } from "./store-conformance.js";

const conformanceClock = new FakeClock();
const conformanceStores: MemoryStore[] = [];

describeStoreConformance("MemoryStore", {
  // Each MemoryStore has its own Map, so a new instance is a new namespace.
  open: () => {
    const store = new MemoryStore({ clock: conformanceClock });
    conformanceStores.push(store);
    return store;
  },
  elapse: async (ms) => conformanceClock.advance(ms),
  closeAll: async () => {
    await Promise.all(conformanceStores.splice(0).map((store) => store.close()));
  },
});

describe("MemoryStore bounds", () => {
  const stores: MemoryStore[] = [];
  const open = (clock: FakeClock, maxEntries?: number) => {
    const store = new MemoryStore({ clock, maxEntries });
    stores.push(store);
    return store;
  };

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  it("expires a value exactly at its TTL", async () => {
    const clock = new FakeClock();
    const store = open(clock);
    await store.set("k", "v", 1_000);
    clock.advance(999);
    expect(await store.get("k")).toBe("v");
    clock.advance(1);
    expect(await store.get("k")).toBeUndefined();
  });

  it("evicts the oldest pending request past maxEntries", async () => {
    const store = open(new FakeClock(), 3);
    await store.set("saml:mercy:authn:_a", "1", 60_000);
    await store.set("oidc-tx:entra:b", "2", 60_000);
    await store.set("smart-tx:epic:c", "3", 60_000);
    await store.set("saml:mercy:authn:_d", "4", 60_000);
    expect(store.size).toBe(3);
    expect(await store.get("saml:mercy:authn:_a")).toBeUndefined();
    expect(await store.get("oidc-tx:entra:b")).toBe("2");
    expect(await store.get("saml:mercy:authn:_d")).toBe("4");
  });

  it("evicts the least recently written pending request", async () => {
    const store = open(new FakeClock(), 3);
    await store.set("oidc-tx:x:a", "1", 60_000);
    await store.set("oidc-tx:x:b", "2", 60_000);
    await store.set("oidc-tx:x:c", "3", 60_000);
    await store.set("oidc-tx:x:a", "1 again", 60_000);
    await store.add("oidc-tx:x:d", "4", 60_000);
    expect(await store.get("oidc-tx:x:b")).toBeUndefined();
    expect(await store.get("oidc-tx:x:a")).toBe("1 again");
    expect(await store.get("oidc-tx:x:c")).toBe("3");
    expect(await store.get("oidc-tx:x:d")).toBe("4");
  });

  it("never evicts sessions or replay markers for pending requests", async () => {
    const store = open(new FakeClock(), 3);
    await store.set("sess:alice", "session", 60_000);
    await store.add("saml:mercy:assertion:_a1", "1", 60_000);
    for (let index = 0; index < 50; index += 1) {
      await store.set(`saml:mercy:authn:_flood${index}`, "x", 60_000);
    }
    expect(await store.get("sess:alice")).toBe("session");
    expect(await store.get("saml:mercy:assertion:_a1")).toBe("1");
    expect(store.size).toBe(3);
  });

  it("rejects a write when only protected keys remain", async () => {
    const store = open(new FakeClock(), 2);
    await store.set("sess:alice", "session", 60_000);
    await store.set("sess:bob", "session", 60_000);
    await expect(store.set("sess:carol", "session", 60_000)).rejects.toMatchObject({
      code: "STORE_UNAVAILABLE",
    });
    await expect(store.set("oidc-tx:x:a", "1", 60_000)).rejects.toMatchObject({
      code: "STORE_UNAVAILABLE",
    });
    expect(await store.get("sess:alice")).toBe("session");
    expect(await store.get("sess:bob")).toBe("session");
    await store.set("sess:bob", "rewritten", 60_000);
    expect(await store.get("sess:bob")).toBe("rewritten");
  });

  it("drops expired keys before evicting live ones", async () => {
    const clock = new FakeClock();
    const store = open(clock, 3);
    await store.set("live-1", "1", 60_000);
    await store.set("expiring", "2", 1_000);
    await store.set("live-2", "3", 60_000);
    clock.advance(1_000);
    await store.set("live-3", "4", 60_000);
    expect(store.size).toBe(3);
    expect(await store.get("live-1")).toBe("1");
    expect(await store.get("live-2")).toBe("3");
    expect(await store.get("live-3")).toBe("4");
  });

  it("sweep removes only expired keys", async () => {
    const clock = new FakeClock();
    const store = open(clock);
    await store.set("short", "1", 1_000);
    await store.set("long", "2", 5_000);
    clock.advance(1_000);
    store.sweep();
    expect(store.size).toBe(1);
    expect(await store.get("long")).toBe("2");
  });

  it("close removes every key", async () => {
    const store = open(new FakeClock());
    await store.set("k", "v", 60_000);
    await store.close();
    expect(store.size).toBe(0);
  });
});
