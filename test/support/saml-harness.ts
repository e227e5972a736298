import { createPublicKey } from "node:crypto";
import { MemorySink } from "../../src/audit/audit.js";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";
import type Koa from "koa";
import request from "supertest";
import type { Clock, IdGenerator } from "../../src/clock.js";
import { parseConfig } from "../../src/config/load.js";
import { createApp, type SignIn } from "../../src/http/create-sign-in.js";
import { DEMO_TENANT_ID, DEMO_USERS, demoUserAttributes } from "../../src/demo/saml-idp.js";
import {
  buildAssertionXml,
  buildResponseXml,
  buildSignedResponse,
  entraResponseFields,
  signElement,
  type ResponseFields,
  type SignaturePlacement,
  type SigningKey,
} from "../../src/demo/saml-response-builder.js";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BASE_URL = "https://signin.example.org";
export const CONNECTION_ID = "entra";
export const ACS_URL = `${BASE_URL}/saml/${CONNECTION_ID}/acs`;
export const SP_ENTITY_ID = `${BASE_URL}/saml/${CONNECTION_ID}/metadata`;
export const IDP_ENTITY_ID = `https://sts.windows.net/${DEMO_TENANT_ID}/`;
export const IDP_SSO_URL = "https://idp.example.test/saml2";
export const IDP_SLO_URL = "https://idp.example.test/saml2/logout";
export const ALICE = DEMO_USERS[0]!;

/** Reads a PEM file from certs/. */
export function certFile(name: string): string {
  return readFileSync(path.join(REPO_ROOT, "certs", name), "utf8");
}

export const IDP_KEY: SigningKey = {
  key: certFile("demo-idp-signing.key"),
  cert: certFile("demo-idp-signing.crt"),
};
export const UNTRUSTED_KEY: SigningKey = {
  key: certFile("test-untrusted-signing.key"),
  cert: certFile("test-untrusted-signing.crt"),
};

/** Clock that moves only when a test calls advance() or sets `current`. */
export class FakeClock implements Clock {
  constructor(public current = Date.UTC(2026, 0, 15, 9, 0, 0)) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

/** Deterministic IDs: "id0000000000000001", "id0000000000000002", … */
export class CountingIds implements IdGenerator {
  private next = 0;
  randomId(): string {
    this.next += 1;
    return `id${String(this.next).padStart(16, "0")}`;
  }
}

/** Builds a parsed config with one SAML connection; `connection` overrides its keys. */
export function samlConfig(connection: Record<string, unknown> = {}) {
  return parseConfig(
    {
      baseUrl: BASE_URL,
      logLevel: "silent",
      session: { keys: ["test-session-key-0123456789abcdefghijklmnop"] },
      connections: [
        {
          id: CONNECTION_ID,
          type: "saml",
          name: "Demo Entra",
          idp: {
            entityId: IDP_ENTITY_ID,
            ssoUrl: IDP_SSO_URL,
            sloUrl: IDP_SLO_URL,
            certificates: ["certs/demo-idp-signing.crt"],
          },
          claims: "entra",
          ...connection,
        },
      ],
    },
    { configDir: REPO_ROOT, env: {} },
  );
}

/** A running service with a fake clock and IDs, and helpers that act as browser and IdP. */
export class SamlHarness {
  readonly clock = new FakeClock();
  readonly ids = new CountingIds();
  readonly audit = new MemorySink();
  app!: Koa;
  signIn!: SignIn;
  private counter = 0;

  static async start(connection: Record<string, unknown> = {}): Promise<SamlHarness> {
    const harness = new SamlHarness();
    const { app, signIn } = await createApp(samlConfig(connection), {
      clock: harness.clock,
      ids: harness.ids,
      auditSink: harness.audit,
    });
    harness.app = app;
    harness.signIn = signIn;
    return harness;
  }

  async close(): Promise<void> {
    await this.signIn.close();
  }

  http() {
    return request(this.app.callback());
  }

  /** Starts a login as a fresh browser; returns the request ID and that browser's cookies. */
  async login(
    returnTo = "/chart",
  ): Promise<{ requestId: string; cookies: Browser; location: URL }> {
    const res = await this.http().get(
      `/saml/${CONNECTION_ID}/login?returnTo=${encodeURIComponent(returnTo)}`,
    );
    if (res.status !== 302) throw new Error(`login returned ${res.status}`);
    const location = new URL(res.headers.location as string);
    const xml = inflateRawSync(
      Buffer.from(location.searchParams.get("SAMLRequest") ?? "", "base64"),
    ).toString("utf8");
    const requestId = /\sID="([^"]+)"/.exec(xml)?.[1];
    if (!requestId) throw new Error("no ID in the AuthnRequest");
    const browser = new Browser();
    browser.store(res.headers["set-cookie"]);
    return { requestId, cookies: browser, location };
  }

  /** Returns Entra-shaped response fields for Alice, with `inResponseTo` as the request ID. */
  fields(inResponseTo?: string): ResponseFields {
    this.counter += 1;
    return entraResponseFields({
      now: this.clock.now(),
      tenantId: DEMO_TENANT_ID,
      acsUrl: ACS_URL,
      spEntityId: SP_ENTITY_ID,
      nameId: ALICE.objectId,
      attributes: demoUserAttributes(ALICE),
      responseId: `_resp${this.counter}`,
      assertionId: `_assert${this.counter}`,
      ...(inResponseTo !== undefined ? { inResponseTo } : {}),
    });
  }

  /** Posts response XML to the ACS as `browser`, asking for JSON errors. */
  async postResponse(
    xml: string,
    browser: Browser = new Browser(),
    extra: Record<string, string> = {},
  ) {
    const res = await this.http()
      .post(`/saml/${CONNECTION_ID}/acs`)
      .set("Cookie", browser.header())
      .set("Accept", "application/json")
      .type("form")
      .send({ SAMLResponse: Buffer.from(xml, "utf8").toString("base64"), ...extra });
    browser.store(res.headers["set-cookie"]);
    return res;
  }

  /** GET /session as `browser`. */
  async session(browser: Browser) {
    return this.http()
      .get("/session")
      .set("Cookie", browser.header())
      .set("Accept", "application/json");
  }
}

/**
 * A cookie jar kept by hand: supertest's agent does not send Secure cookies over plain http,
 * and the binding cookie is Secure.
 */
export class Browser {
  private readonly cookies = new Map<string, string>();

  store(setCookie: string[] | string | undefined): void {
    const lines = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
    for (const line of lines) {
      const [pair = "", ...attributes] = line.split(";");
      const index = pair.indexOf("=");
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      const expired = attributes.some((attr) => /expires=Thu, 01 Jan 1970/i.test(attr));
      if (value === "" || expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  has(name: string): boolean {
    return this.cookies.has(name);
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

export { buildAssertionXml, buildResponseXml, buildSignedResponse, signElement };
export type { ResponseFields, SignaturePlacement, SigningKey };

/** Encrypts an assertion to `certPem` as an EncryptedAssertion (AES-256-GCM, RSA-OAEP). */
export async function encryptAssertion(assertionXml: string, certPem: string): Promise<string> {
  // xml-encryption is the library node-saml decrypts with; load it from node-saml's folder.
  const requireFromNodeSaml = createRequire(
    createRequire(import.meta.url).resolve("@node-saml/node-saml"),
  );
  const xmlenc = requireFromNodeSaml("xml-encryption") as {
    encrypt(
      content: string,
      options: Record<string, unknown>,
      callback: (error: Error | null, result: string) => void,
    ): void;
  };
  const publicKey = createPublicKey(certPem).export({ type: "spki", format: "pem" }).toString();
  const encrypted = await new Promise<string>((resolve, reject) =>
    xmlenc.encrypt(
      assertionXml,
      {
        rsa_pub: publicKey,
        pem: certPem,
        encryptionAlgorithm: "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        keyEncryptionAlgorithm: "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    ),
  );
  return `<EncryptedAssertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion">${encrypted}</EncryptedAssertion>`;
}

/**
 * Checks that a response was rejected with `code`, that the reply set no session cookie, and
 * that the browser has no session afterwards.
 */
export async function expectRejected(
  harness: SamlHarness,
  res: { status: number; body: { error?: string }; headers: Record<string, unknown> },
  code: string,
  browser: Browser,
): Promise<void> {
  const { expect } = await import("@jest/globals");
  expect(res.body.error).toBe(code);
  expect(res.status).toBeGreaterThanOrEqual(400);
  const setCookie = ([] as string[]).concat(
    (res.headers["set-cookie"] as string[] | undefined) ?? [],
  );
  expect(setCookie.filter((line) => line.startsWith("fs_session="))).toEqual([]);
  expect((await harness.session(browser)).status).toBe(401);
  const lastEvent = harness.audit.events().at(-1);
  expect(lastEvent?.event).toBe("sign_in_failed");
  expect(lastEvent?.code).toBe(code);
}

/** Replaces the first match of `search` in `text`; throws when absent, so a test cannot pass by accident. */
export function replaceOnce(text: string, search: string | RegExp, replacement: string): string {
  const found = typeof search === "string" ? text.includes(search) : search.test(text);
  if (!found) throw new Error(`test setup: ${String(search)} not found`);
  return text.replace(search, replacement);
}
