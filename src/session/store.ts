import { SignInError } from "../errors.js";

/**
 * Key-value store with per-key time to live, shared by sessions, outstanding SAML requests,
 * the assertion replay cache and OIDC/SMART transactions. Values are strings (JSON).
 *
 * Implementations raise {@link storeUnavailable} when the backing service cannot be reached,
 * so the HTTP layer answers 503 instead of treating the value as missing.
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
  delete(key: string): Promise<void>;
  /** Resolves when the store is reachable; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
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
