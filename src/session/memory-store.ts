import { systemClock, type Clock } from "../clock.js";
import { isEvictableKey, storeUnavailable, type Store } from "./store.js";

interface Entry {
  value: string;
  expiresAt: number;
}

interface SetEntry {
  members: Set<string>;
  expiresAt: number;
}

/** Options for {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Maximum number of keys. Past it, the least recently written short-lived key (a pending
   * sign-in request or trace, see {@link isEvictableKey}) is evicted; sessions and replay-cache
   * markers are never evicted before their TTL, so a write that finds only those is rejected
   * with STORE_UNAVAILABLE.
   */
  maxEntries?: number;
  clock?: Clock;
  /** Interval of the sweep that drops expired keys, in milliseconds. */
  sweepIntervalMs?: number;
}

/**
 * In-process store for a single instance: bounded, with per-key TTL. Several instances behind a
 * load balancer need the Redis store instead, because each process would have its own copy.
 */
export class MemoryStore implements Store {
  private readonly entries = new Map<string, Entry>();
  /** Evictable keys in the order they were last written, oldest first. */
  private readonly evictable = new Set<string>();
  private lastFullSweepAt = Number.NEGATIVE_INFINITY;
  /** Sets of {@link addToSet}, bounded by `maxEntries` on their own. */
  private readonly sets = new Map<string, SetEntry>();
  private readonly maxEntries: number;
  private readonly clock: Clock;
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.clock = options.clock ?? systemClock;
    this.sweepTimer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000);
    this.sweepTimer.unref();
  }

  async countKeys(keyPrefix: string): Promise<number> {
    const now = this.clock.now();
    let count = 0;
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now && key.startsWith(keyPrefix)) count += 1;
    }
    return count;
  }

  /** Returns the stored keys, live and not yet swept (tests and diagnostics). */
  async keys(): Promise<string[]> {
    return [...this.entries.keys()];
  }

  /** Number of live and not yet swept keys. */
  get size(): number {
    return this.entries.size;
  }

  async get(key: string): Promise<string | undefined> {
    return this.read(key);
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.write(key, value, ttlMs);
  }

  async add(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.read(key) !== undefined) return false;
    this.write(key, value, ttlMs);
    return true;
  }

  async take(key: string): Promise<string | undefined> {
    const value = this.read(key);
    this.drop(key);
    return value;
  }

  async delete(key: string): Promise<void> {
    this.drop(key);
    this.sets.delete(key);
  }

  async replace(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.read(key) === undefined) return false;
    this.write(key, value, ttlMs);
    return true;
  }

  async addToSet(key: string, member: string, ttlMs: number): Promise<void> {
    if (!Number.isFinite(ttlMs)) {
      throw new RangeError(`TTL must be a finite number of milliseconds (got ${ttlMs})`);
    }
    if (ttlMs <= 0) return;
    const expiresAt = this.clock.now() + ttlMs;
    const entry = this.readSet(key);
    if (entry) {
      entry.members.add(member);
      entry.expiresAt = Math.max(entry.expiresAt, expiresAt);
      return;
    }
    this.sets.set(key, { members: new Set([member]), expiresAt });
    while (this.sets.size > this.maxEntries) {
      const oldest = this.sets.keys().next();
      if (oldest.done) break;
      this.sets.delete(oldest.value);
    }
  }

  async members(key: string): Promise<string[]> {
    return [...(this.readSet(key)?.members ?? [])];
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    const entry = this.readSet(key);
    if (!entry) return;
    entry.members.delete(member);
    if (entry.members.size === 0) this.sets.delete(key);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.entries.clear();
    this.evictable.clear();
    this.sets.clear();
  }

  /** Drops every expired key. */
  sweep(): void {
    const now = this.clock.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) this.drop(key);
    }
    for (const [key, entry] of this.sets) {
      if (entry.expiresAt <= now) this.sets.delete(key);
    }
  }

  private readSet(key: string): SetEntry | undefined {
    const entry = this.sets.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.clock.now()) {
      this.sets.delete(key);
      return undefined;
    }
    return entry;
  }

  private read(key: string): string | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.clock.now()) {
      this.drop(key);
      return undefined;
    }
    return entry.value;
  }

  private write(key: string, value: string, ttlMs: number): void {
    if (!Number.isFinite(ttlMs)) {
      throw new RangeError(`TTL must be a finite number of milliseconds (got ${ttlMs})`);
    }
    if (ttlMs <= 0) {
      this.drop(key);
      return;
    }
    const isNew = !this.entries.has(key);
    if (isNew && this.entries.size >= this.maxEntries) this.makeRoom();
    // Re-inserting moves the key to the end of the insertion order, so eviction takes the
    // least recently written key.
    this.drop(key);
    this.entries.set(key, { value, expiresAt: this.clock.now() + ttlMs });
    if (isEvictableKey(key)) this.evictable.add(key);
  }

  /**
   * Frees one place: drops expired keys, then the oldest evictable key. Rejects the write when
   * every key is a session or replay marker that must live until its TTL, because evicting
   * those would sign users out or let a used assertion be replayed.
   */
  private makeRoom(): void {
    // A full sweep scans every key, so while the store stays full it runs at most once a second
    // instead of on every write.
    const now = this.clock.now();
    if (now - this.lastFullSweepAt >= 1_000) {
      this.lastFullSweepAt = now;
      this.sweep();
      if (this.entries.size < this.maxEntries) return;
    }
    const oldest = this.evictable.values().next();
    if (!oldest.done) {
      this.drop(oldest.value);
      return;
    }
    throw storeUnavailable(
      new Error(`memory store is full (${this.maxEntries} keys); raise session.store.maxEntries`),
    );
  }

  private drop(key: string): void {
    this.entries.delete(key);
    this.evictable.delete(key);
  }
}
