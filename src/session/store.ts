import { SignInError } from "../errors.js";

/**
 * Key-value store with per-key time to live, shared by sessions, outstanding SAML requests,
 * the assertion replay cache and OIDC/SMART transactions. Values are strings (JSON).
 *
 * Implementations raise {@link storeUnavailable} when the backing service cannot be reached,
 * so the HTTP layer returns 503 instead of treating the value as missing.
 */
export interface Store {
  get(key: string): Promise<string | undefined>;
  /** Stores `value` for `ttlMs` milliseconds, replacing any earlier value. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Stores `value` only when `key` is absent. Returns true when this call stored it. Two
   * callers racing on the same key get true exactly once.
   */
  add(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Reads and deletes `key` in one atomic step, so a one-time value is consumed once. */
  take(key: string): Promise<string | undefined>;
  /** Removes `key`, whether it contains a value or a set. */
  delete(key: string): Promise<void>;
  /**
   * Replaces the value of `key` only when the key exists, and returns true then. Returns false
   * and stores nothing when the key is absent, so a write cannot bring back a deleted key.
   */
  replace?(key: string, value: string, ttlMs: number): Promise<boolean>;
  /**
   * Adds `member` to the set at `key`. The set then lives at least `ttlMs` more milliseconds:
   * a shorter TTL never replaces a longer one.
   */
  addToSet?(key: string, member: string, ttlMs: number): Promise<void>;
  /** Returns the members of the set at `key`, in no order; an absent key gives an empty list. */
  members?(key: string): Promise<string[]>;
  /** Removes `member` from the set at `key`; the set is deleted when it becomes empty. */
  removeFromSet?(key: string, member: string): Promise<void>;
  /**
   * Counts the keys that start with `keyPrefix` (for the active-sessions gauge). Scans the
   * whole key space, so it is called on a metrics scrape, never per request.
   */
  countKeys?(keyPrefix: string): Promise<number>;
  /** Resolves when the store is reachable; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Keys of short-lived values that a store may evict under memory pressure: outstanding SAML
 * requests, OIDC/SMART transactions and login traces. Losing one fails one pending sign-in.
 * Every other key (sessions, replay-cache and logout markers, session indexes) must live until
 * its TTL.
 */
const EVICTABLE_KEY_PATTERN = /^(?:saml:[^:]*:(?:authn|logout):|oidc-tx:|smart-tx:|trace:)/;

/** Tells whether a store may evict `key` before its TTL (see {@link EVICTABLE_KEY_PATTERN}). */
export function isEvictableKey(key: string): boolean {
  return EVICTABLE_KEY_PATTERN.test(key);
}

/** Wraps a backend failure in the coded 503 error. */
export function storeUnavailable(cause: unknown): SignInError {
  return new SignInError("STORE_UNAVAILABLE", "The session store cannot be reached.", {
    cause,
    logDetails: { reason: cause instanceof Error ? cause.message : String(cause) },
  });
}

/** Reads and parses a JSON value. */
export async function getJson<T>(store: Store, key: string): Promise<T | undefined> {
  const text = await store.get(key);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

/** Takes (reads and deletes) a JSON value. */
export async function takeJson<T>(store: Store, key: string): Promise<T | undefined> {
  const text = await store.take(key);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

/**
 * Takes a JSON value only when `accepts` approves it: a value that `accepts` rejects stays in
 * the store, so a request that presents someone else's one-time value (a stolen OIDC state, a
 * SAML request ID) cannot use it up. Two callers racing on an accepted value get it once.
 */
export async function takeJsonIf<T>(
  store: Store,
  key: string,
  accepts: (value: T) => boolean,
): Promise<T | undefined> {
  const peeked = await getJson<T>(store, key);
  if (peeked === undefined || !accepts(peeked)) return undefined;
  const taken = await takeJson<T>(store, key);
  return taken !== undefined && accepts(taken) ? taken : undefined;
}
