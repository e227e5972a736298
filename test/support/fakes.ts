import type { Identity } from "../../src/identity/identity.js";
import type { Clock, IdGenerator } from "../../src/clock.js";

/** Clock that moves only when a test advances it. */
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

/** Returns a signed-in Entra user's normalized identity, with `overrides` applied. */
export function testIdentity(overrides: Partial<Identity> = {}): Identity {
  return {
    id: "entra:6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c:a1111111-1111-4111-8111-111111111111",
    connection: "mercy-saml",
    protocol: "saml",
    issuer: "https://sts.windows.net/6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c/",
    subject: "persistent-subject",
    email: "alice@example.org",
    username: "alice@example.org",
    name: "Alice Nguyen",
    groups: ["g-cardiology", "g-staff"],
    roles: ["Clinician"],
    authMethods: ["urn:oasis:names:tc:SAML:2.0:ac:classes:Password"],
    authenticatedAt: "2026-12-04T12:00:00.000Z",
    claims: {},
    ...overrides,
  };
}
