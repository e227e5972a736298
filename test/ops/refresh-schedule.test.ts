import { describe, expect, it } from "@jest/globals";
import { nextRefreshDelayMs } from "../../src/saml/metadata-schedule.js";
import { parseXmlDurationMs } from "../../src/saml/xml-duration.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const NOW = Date.UTC(2026, 0, 15, 9, 0, 0);
const BOUNDS = { minIntervalMs: 5 * MINUTE, maxIntervalMs: 6 * HOUR };
const noJitter = () => 0;
const fullJitter = () => 0.999999;

describe("refresh delay", () => {
  it("uses the maximum without hints", () => {
    const delay = nextRefreshDelayMs({
      metadata: {},
      lastRefreshFailed: false,
      nowMs: NOW,
      bounds: BOUNDS,
      random: noJitter,
    });
    expect(delay).toBe(6 * HOUR);
  });

  it("follows cacheDuration", () => {
    const delay = nextRefreshDelayMs({
      metadata: { cacheDurationMs: HOUR },
      lastRefreshFailed: false,
      nowMs: NOW,
      bounds: BOUNDS,
      random: noJitter,
    });
    expect(delay).toBe(HOUR);
  });

  it("refreshes before validUntil", () => {
    const delay = nextRefreshDelayMs({
      metadata: { validUntilMs: NOW + 4 * HOUR },
      lastRefreshFailed: false,
      nowMs: NOW,
      bounds: BOUNDS,
      random: noJitter,
    });
    expect(delay).toBe(3 * HOUR);
  });

  it("removes at most 10 % as jitter", () => {
    const delay = nextRefreshDelayMs({
      metadata: { cacheDurationMs: HOUR },
      lastRefreshFailed: false,
      nowMs: NOW,
      bounds: BOUNDS,
      random: fullJitter,
    });
    expect(delay).toBeGreaterThan(54 * MINUTE - 1);
    expect(delay).toBeLessThan(HOUR);
  });

  it("clamps to the minimum", () => {
    const delay = nextRefreshDelayMs({
      metadata: { cacheDurationMs: 10_000 },
      lastRefreshFailed: false,
      nowMs: NOW,
      bounds: BOUNDS,
      random: fullJitter,
    });
    expect(delay).toBe(5 * MINUTE);
  });

  it("clamps to the maximum", () => {
    const delay = nextRefreshDelayMs({
      metadata: { cacheDurationMs: 48 * HOUR },
      lastRefreshFailed: false,
      nowMs: NOW,
      bounds: BOUNDS,
      random: noJitter,
    });
    expect(delay).toBe(6 * HOUR);
  });

  it("retries at the minimum after a failure", () => {
    const delay = nextRefreshDelayMs({
      metadata: { cacheDurationMs: HOUR },
      lastRefreshFailed: true,
      nowMs: NOW,
      bounds: BOUNDS,
      random: noJitter,
    });
    expect(delay).toBe(5 * MINUTE);
  });
});

describe("xs:duration", () => {
  it.each([
    ["PT6H", 6 * HOUR],
    ["P1D", 24 * HOUR],
    ["P1DT12H", 36 * HOUR],
    ["PT90M", 90 * MINUTE],
    ["PT1.5S", 1500],
  ])("parses %s", (text, expected) => {
    expect(parseXmlDurationMs(text)).toBe(expected);
  });

  it.each(["", "P", "PT", "6H", "-PT1H", "P1DT", "PT1H30"])("rejects %j", (text) => {
    expect(parseXmlDurationMs(text)).toBeUndefined();
  });
});
