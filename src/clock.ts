import { randomBytes } from "node:crypto";

/** Source of the current time; tests inject a fake one so time windows are exact. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Source of random identifiers; tests inject a deterministic one. */
export interface IdGenerator {
  /** A URL-safe random string with at least 128 bits of entropy. */
  randomId(): string;
}

export const cryptoIdGenerator: IdGenerator = {
  randomId: () => randomBytes(24).toString("base64url"),
};
