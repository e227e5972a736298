import type { Store } from "../session/store.js";

/** Shortest time an assertion ID is remembered, in milliseconds. */
const MIN_REMEMBER_MS = 60_000;

/**
 * Records an assertion ID as used. Returns false when the ID was recorded before (a replay).
 * The ID is remembered until the assertion can no longer pass the time checks: its latest
 * NotOnOrAfter plus the clock skew.
 */
export async function recordAssertionId(
  store: Store,
  connectionId: string,
  assertionId: string,
  rememberUntilMs: number,
  nowMs: number,
): Promise<boolean> {
  const ttlMs = Math.max(MIN_REMEMBER_MS, rememberUntilMs - nowMs);
  return store.add(`saml:${connectionId}:assertion:${assertionId}`, "1", ttlMs);
}
