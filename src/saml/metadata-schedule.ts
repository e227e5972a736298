import type { IdpMetadata } from "./idp-metadata.js";

/** Bounds of the time between two scheduled metadata refreshes, in milliseconds. */
export interface RefreshBounds {
  minIntervalMs: number;
  maxIntervalMs: number;
}

/**
 * Share of the time left before `validUntil` after which the next refresh is due, so a
 * document is replaced well before it expires even when one refresh fails.
 */
const VALID_UNTIL_FRACTION = 0.75;

/** Largest share of a delay that jitter removes, so instances do not refresh in step. */
const JITTER_FRACTION = 0.1;

/** Maximum delay that setTimeout accepts (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * Computes the delay until the next scheduled refresh. The base delay is the smallest of the
 * document's `cacheDuration`, 75 % of the time left before its `validUntil`, and the maximum
 * interval. Documents without either attribute (Entra's) use the maximum interval, and after
 * a failed refresh the minimum interval applies. Jitter then removes up to 10 % (`random`
 * returns a number in [0, 1)), and the result is clamped to the bounds.
 */
export function nextRefreshDelayMs(input: {
  metadata: Pick<IdpMetadata, "validUntilMs" | "cacheDurationMs"> | undefined;
  lastRefreshFailed: boolean;
  nowMs: number;
  bounds: RefreshBounds;
  random: () => number;
}): number {
  const { metadata, bounds } = input;
  let delay = bounds.maxIntervalMs;
  if (input.lastRefreshFailed) {
    delay = bounds.minIntervalMs;
  } else {
    if (metadata?.cacheDurationMs !== undefined) delay = Math.min(delay, metadata.cacheDurationMs);
    if (metadata?.validUntilMs !== undefined) {
      const left = metadata.validUntilMs - input.nowMs;
      delay = Math.min(delay, Math.floor(left * VALID_UNTIL_FRACTION));
    }
  }
  delay -= Math.floor(delay * JITTER_FRACTION * input.random());
  delay = Math.max(bounds.minIntervalMs, Math.min(bounds.maxIntervalMs, delay));
  return Math.min(delay, MAX_TIMER_DELAY_MS);
}
