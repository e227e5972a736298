import { afterEach, describe, expect, it } from "@jest/globals";
import type { Store } from "../../src/session/store.js";

/** What the conformance suite needs from one store implementation. */
export interface StoreHarness {
  /**
   * Opens a store. Stores opened with different namespaces must not see each other's keys.
   * Without a namespace, every call gets a fresh one.
   */
  open(namespace?: string): Store;
  /** Lets at least `ms` milliseconds of store time pass. */
  elapse(ms: number): Promise<void>;
  /** Closes every store that `open` returned and removes what they stored. */
  closeAll(): Promise<void>;
}

/** A TTL short enough to wait out in a test on a real Redis server. */
const SHORT_TTL_MS = 100;
const LONG_TTL_MS = 60_000;
const RACERS = 50;

/** A store with the optional methods that the session index and logout need. */
type StoreWithSets = Store &
  Required<Pick<Store, "replace" | "addToSet" | "members" | "removeFromSet">>;

/** Fails the test when the store lacks an optional method that sessions need across instances. */
function requireSetSupport(store: Store): StoreWithSets {
  for (const method of ["replace", "addToSet", "members", "removeFromSet"] as const) {
    if (typeof store[method] !== "function") throw new Error(`the store has no ${method} method`);
  }
  return store as StoreWithSets;
}

/** Registers the tests that every {@link Store} implementation must pass. */
export function describeStoreConformance(name: string, harness: StoreHarness): void {
  describe(`${name} conformance`, () => {
    afterEach(async () => {
      await harness.closeAll();
    });

    describe("countKeys", () => {
      it("counts live keys with a prefix", async () => {
        const store = harness.open();
        const other = harness.open("other");
        if (!store.countKeys) throw new Error("the store has no countKeys method");
        await store.set("sess:a", "1", 60_000);
        await store.set("sess:b", "1", 60_000);
        await store.set("sess:gone", "1", SHORT_TTL_MS);
        await store.set("saml:x:authn:c", "1", 60_000);
        await other.set("sess:elsewhere", "1", 60_000);
        await harness.elapse(SHORT_TTL_MS + 50);
        expect(await store.countKeys("sess:")).toBe(2);
        expect(await store.countKeys("saml:")).toBe(1);
        expect(await store.countKeys("sess*")).toBe(0);
      });
    });

    describe("get and set", () => {
      it("returns undefined for a missing key", async () => {
        const store = harness.open();
        expect(await store.get("missing")).toBeUndefined();
      });

      it("returns the value that set stored", async () => {
        const store = harness.open();
        await store.set("k", '{"user":"alice"}', LONG_TTL_MS);
        expect(await store.get("k")).toBe('{"user":"alice"}');
      });

      it("replaces an earlier value", async () => {
        const store = harness.open();
        await store.set("k", "first", LONG_TTL_MS);
        await store.set("k", "second", LONG_TTL_MS);
        expect(await store.get("k")).toBe("second");
      });

      it("round-trips non-ASCII and large values", async () => {
        const store = harness.open();
        const unicode = 'ü 🔑 "quoted" \\ back\nslash \u0000 end';
        const large = "x".repeat(200_000);
        await store.set("unicode", unicode, LONG_TTL_MS);
        await store.set("large", large, LONG_TTL_MS);
        expect(await store.get("unicode")).toBe(unicode);
        expect(await store.get("large")).toBe(large);
      });

      it("keeps a value before its TTL ends", async () => {
        const store = harness.open();
        await store.set("k", "v", LONG_TTL_MS);
        await harness.elapse(SHORT_TTL_MS);
        expect(await store.get("k")).toBe("v");
      });

      it("drops a value after its TTL", async () => {
        const store = harness.open();
        await store.set("k", "v", SHORT_TTL_MS);
        await harness.elapse(SHORT_TTL_MS);
        expect(await store.get("k")).toBeUndefined();
      });

      it("resets the TTL when a value is replaced", async () => {
        const store = harness.open();
        await store.set("shortened", "v1", LONG_TTL_MS);
        await store.set("shortened", "v2", SHORT_TTL_MS);
        await store.set("lengthened", "v1", SHORT_TTL_MS);
        await store.set("lengthened", "v2", LONG_TTL_MS);
        await harness.elapse(SHORT_TTL_MS);
        expect(await store.get("shortened")).toBeUndefined();
        expect(await store.get("lengthened")).toBe("v2");
      });

      it("accepts a fractional TTL", async () => {
        const store = harness.open();
        await store.set("k", "v", 1_500.5);
        expect(await store.get("k")).toBe("v");
      });

      it("deletes the key when set gets a TTL of zero", async () => {
        const store = harness.open();
        await store.set("k", "v", LONG_TTL_MS);
        await store.set("k", "v2", 0);
        expect(await store.get("k")).toBeUndefined();
      });
    });

    describe("add", () => {
      it("stores a value for an absent key", async () => {
        const store = harness.open();
        expect(await store.add("k", "first", LONG_TTL_MS)).toBe(true);
        expect(await store.get("k")).toBe("first");
      });

      it("keeps the first value when the key exists", async () => {
        const store = harness.open();
        await store.add("k", "first", LONG_TTL_MS);
        expect(await store.add("k", "second", LONG_TTL_MS)).toBe(false);
        expect(await store.get("k")).toBe("first");
      });

      it("returns false for a key written by set", async () => {
        const store = harness.open();
        await store.set("k", "from-set", LONG_TTL_MS);
        expect(await store.add("k", "from-add", LONG_TTL_MS)).toBe(false);
        expect(await store.get("k")).toBe("from-set");
      });

      it("applies the TTL", async () => {
        const store = harness.open();
        await store.add("k", "v", SHORT_TTL_MS);
        await harness.elapse(SHORT_TTL_MS);
        expect(await store.get("k")).toBeUndefined();
      });

      it("succeeds again after the value expired", async () => {
        const store = harness.open();
        await store.add("k", "first", SHORT_TTL_MS);
        await harness.elapse(SHORT_TTL_MS);
        expect(await store.add("k", "second", LONG_TTL_MS)).toBe(true);
        expect(await store.get("k")).toBe("second");
      });

      it("succeeds again after take and after delete", async () => {
        const store = harness.open();
        await store.add("taken", "v", LONG_TTL_MS);
        await store.take("taken");
        await store.add("deleted", "v", LONG_TTL_MS);
        await store.delete("deleted");
        expect(await store.add("taken", "again", LONG_TTL_MS)).toBe(true);
        expect(await store.add("deleted", "again", LONG_TTL_MS)).toBe(true);
      });

      it("stores nothing with a TTL of zero", async () => {
        const store = harness.open();
        expect(await store.add("absent", "v", 0)).toBe(true);
        expect(await store.get("absent")).toBeUndefined();
        await store.set("present", "kept", LONG_TTL_MS);
        expect(await store.add("present", "v", 0)).toBe(false);
        expect(await store.get("present")).toBe("kept");
      });

      it("succeeds exactly once for concurrent callers", async () => {
        const store = harness.open();
        const values = Array.from({ length: RACERS }, (_, i) => `value-${i}`);
        const results = await Promise.all(values.map((v) => store.add("k", v, LONG_TTL_MS)));
        const winners = values.filter((_, i) => results[i]);
        expect(winners).toHaveLength(1);
        expect(await store.get("k")).toBe(winners[0]);
      });
    });

    describe("take", () => {
      it("returns the value once", async () => {
        const store = harness.open();
        await store.set("k", "one-time", LONG_TTL_MS);
        expect(await store.take("k")).toBe("one-time");
        expect(await store.take("k")).toBeUndefined();
        expect(await store.get("k")).toBeUndefined();
      });

      it("returns undefined for a missing key", async () => {
        const store = harness.open();
        expect(await store.take("missing")).toBeUndefined();
      });

      it("returns undefined after the TTL", async () => {
        const store = harness.open();
        await store.set("k", "v", SHORT_TTL_MS);
        await harness.elapse(SHORT_TTL_MS);
        expect(await store.take("k")).toBeUndefined();
      });

      it("hands the value to exactly one of concurrent callers", async () => {
        const store = harness.open();
        await store.set("k", "one-time", LONG_TTL_MS);
        const results = await Promise.all(Array.from({ length: RACERS }, () => store.take("k")));
        expect(results.filter((value) => value === "one-time")).toHaveLength(1);
        expect(results.filter((value) => value === undefined)).toHaveLength(RACERS - 1);
      });
    });

    describe("delete", () => {
      it("removes the key", async () => {
        const store = harness.open();
        await store.set("k", "v", LONG_TTL_MS);
        await store.delete("k");
        expect(await store.get("k")).toBeUndefined();
      });

      it("resolves for a missing key", async () => {
        const store = harness.open();
        await expect(store.delete("missing")).resolves.toBeUndefined();
      });

      it("leaves other keys alone", async () => {
        const store = harness.open();
        await store.set("a", "1", LONG_TTL_MS);
        await store.set("b", "2", LONG_TTL_MS);
        await store.delete("a");
        expect(await store.get("b")).toBe("2");
      });
    });

    describe("replace", () => {
      it("replaces the value of an existing key", async () => {
        const store = requireSetSupport(harness.open());
        await store.set("k", "first", LONG_TTL_MS);
        expect(await store.replace("k", "second", LONG_TTL_MS)).toBe(true);
        expect(await store.get("k")).toBe("second");
      });

      it("stores nothing for an absent key", async () => {
        const store = requireSetSupport(harness.open());
        expect(await store.replace("absent", "v", LONG_TTL_MS)).toBe(false);
        expect(await store.get("absent")).toBeUndefined();
      });

      it("stores nothing after delete", async () => {
        const store = requireSetSupport(harness.open());
        await store.set("k", "v", LONG_TTL_MS);
        await store.delete("k");
        expect(await store.replace("k", "again", LONG_TTL_MS)).toBe(false);
        expect(await store.get("k")).toBeUndefined();
      });

      it("applies the new TTL", async () => {
        const store = requireSetSupport(harness.open());
        await store.set("k", "v", LONG_TTL_MS);
        expect(await store.replace("k", "v2", SHORT_TTL_MS)).toBe(true);
        await harness.elapse(SHORT_TTL_MS);
        expect(await store.get("k")).toBeUndefined();
      });
    });

    describe("sets", () => {
      it("returns the added members once each", async () => {
        const store = requireSetSupport(harness.open());
        await store.addToSet("s", "a", LONG_TTL_MS);
        await store.addToSet("s", "b", LONG_TTL_MS);
        await store.addToSet("s", "a", LONG_TTL_MS);
        expect((await store.members("s")).sort()).toEqual(["a", "b"]);
      });

      it("returns an empty list for a missing key", async () => {
        const store = requireSetSupport(harness.open());
        expect(await store.members("missing")).toEqual([]);
      });

      it("removes one member", async () => {
        const store = requireSetSupport(harness.open());
        await store.addToSet("s", "a", LONG_TTL_MS);
        await store.addToSet("s", "b", LONG_TTL_MS);
        await store.removeFromSet("s", "a");
        expect(await store.members("s")).toEqual(["b"]);
        await store.removeFromSet("s", "b");
        await store.removeFromSet("missing", "b");
        expect(await store.members("s")).toEqual([]);
      });

      it("drops the set after its TTL", async () => {
        const store = requireSetSupport(harness.open());
        await store.addToSet("s", "a", SHORT_TTL_MS);
        await harness.elapse(SHORT_TTL_MS);
        expect(await store.members("s")).toEqual([]);
      });

      it("never shortens the TTL of a set", async () => {
        const store = requireSetSupport(harness.open());
        await store.addToSet("s", "long", LONG_TTL_MS);
        await store.addToSet("s", "short", SHORT_TTL_MS);
        await harness.elapse(SHORT_TTL_MS);
        expect((await store.members("s")).sort()).toEqual(["long", "short"]);
      });

      it("extends the TTL of a set", async () => {
        const store = requireSetSupport(harness.open());
        await store.addToSet("s", "short", SHORT_TTL_MS);
        await store.addToSet("s", "long", LONG_TTL_MS);
        await harness.elapse(SHORT_TTL_MS);
        expect((await store.members("s")).sort()).toEqual(["long", "short"]);
      });

      it("deletes a set with delete", async () => {
        const store = requireSetSupport(harness.open());
        await store.addToSet("s", "a", LONG_TTL_MS);
        await store.delete("s");
        expect(await store.members("s")).toEqual([]);
      });

      it("keeps every member added concurrently", async () => {
        const store = requireSetSupport(harness.open());
        const names = Array.from({ length: RACERS }, (_, index) => `m${index}`);
        await Promise.all(names.map((name) => store.addToSet("s", name, LONG_TTL_MS)));
        expect((await store.members("s")).sort()).toEqual([...names].sort());
      });
    });

    describe("namespaces", () => {
      it("keeps stores of different namespaces apart", async () => {
        const first = harness.open("first");
        const second = harness.open("second");
        await first.set("k", "in-first", LONG_TTL_MS);
        await second.set("k", "in-second", LONG_TTL_MS);
        expect(await first.get("k")).toBe("in-first");
        expect(await second.get("k")).toBe("in-second");

        expect(await second.add("only-first", "v", LONG_TTL_MS)).toBe(true);
        await first.delete("k");
        expect(await second.get("k")).toBe("in-second");
        expect(await first.take("only-first")).toBeUndefined();
      });
    });

    it("ping resolves", async () => {
      const store = harness.open();
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
