import type { Clock, IdGenerator } from "../../src/clock.js";

/** Clock that moves only when a test tells it to. */
export class FakeClock implements Clock {
  constructor(private current = Date.parse("2026-12-04T12:00:00Z")) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    this.current += ms;
  }

  set(ms: number): void {
    this.current = ms;
  }
}

/** ID source that returns predictable, unique, URL-safe values. */
export class SequenceIds implements IdGenerator {
  private next = 0;

  constructor(private readonly prefix = "id") {}

  randomId(): string {
    this.next += 1;
    return `${this.prefix}${String(this.next).padStart(8, "0")}abcdefghijklmnop`;
  }
}

/** Session cookie signing key for tests (public; never use it anywhere else). */
export const TEST_SESSION_KEY = "test-session-key-0123456789abcdefghijklmnopqrstuvwxyz";

/** Returns the `name=value` pairs of Set-Cookie headers, for sending back as a Cookie header. */
export function cookieHeader(setCookie: string | string[] | undefined): string {
  const lines = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
  return lines
    .map((line) => line.split(";")[0] ?? "")
    .filter((pair) => pair.length > 0 && !pair.endsWith("="))
    .join("; ");
}

/** Merges cookie pairs; later pairs of the same name win, and empty values delete. */
export function mergeCookies(...headers: string[]): string {
  const jar = new Map<string, string>();
  for (const header of headers) {
    for (const pair of header.split(/;\s*/)) {
      const index = pair.indexOf("=");
      if (index <= 0) continue;
      const name = pair.slice(0, index);
      const value = pair.slice(index + 1);
      if (value === "") jar.delete(name);
      else jar.set(name, value);
    }
  }
  return [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
}
