import { Writable } from "node:stream";
import { SignedXml } from "xml-crypto";
import { inflateRawSync } from "node:zlib";
import type Koa from "koa";
import request from "supertest";
import { MemorySink } from "../../src/audit/audit.js";
import { parseConfig } from "../../src/config/load.js";
import { DEMO_TENANT_ID, demoUserAttributes } from "../../src/demo/saml-idp.js";
import { createApp, type SignIn } from "../../src/http/create-sign-in.js";
import { createLogger } from "../../src/logger.js";
import { entraResponseFields } from "../../src/demo/saml-response-builder.js";
import {
  ALICE,
  BASE_URL,
  Browser,
  CountingIds,
  FakeClock,
  IDP_ENTITY_ID,
  IDP_SLO_URL,
  IDP_SSO_URL,
  REPO_ROOT,
  type ResponseFields,
} from "../support/saml-harness.js";

/** Connection ids of the two-connection service; both trust the same IdP certificate. */
export const FIRST = "mercy";
export const SECOND = "county";

export const acsUrlOf = (id: string) => `${BASE_URL}/saml/${id}/acs`;
export const spEntityIdOf = (id: string) => `${BASE_URL}/saml/${id}/metadata`;

/** pino destination that keeps every line in memory, so a test can search the log output. */
export class LogBuffer extends Writable {
  readonly lines: string[] = [];

  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    callback();
  }

  text(): string {
    return this.lines.join("\n");
  }
}

function samlConnection(id: string, overrides: Record<string, unknown>) {
  return {
    id,
    type: "saml",
    name: `Connection ${id}`,
    idp: {
      entityId: IDP_ENTITY_ID,
      ssoUrl: IDP_SSO_URL,
      sloUrl: IDP_SLO_URL,
      certificates: ["certs/demo-idp-signing.crt"],
    },
    claims: "entra",
    ...overrides,
  };
}

/** Options of {@link AttackHarness.start}. */
export interface AttackOptions {
  /** Extra keys per connection id; a listed id that is not FIRST or SECOND adds nothing. */
  connections?: Partial<Record<typeof FIRST | typeof SECOND, Record<string, unknown>>>;
  /** Keys merged into `session`, for example a small memory store. */
  session?: Record<string, unknown>;
  /** Keeps pino output at "info" in a {@link LogBuffer} instead of discarding it. */
  captureLog?: boolean;
}

/**
 * A running service with two SAML connections (FIRST and SECOND) to the same IdP, a fake clock,
 * counting IDs, an in-memory audit sink and optionally a captured pino log.
 */
export class AttackHarness {
  readonly clock = new FakeClock();
  readonly ids = new CountingIds();
  readonly audit = new MemorySink();
  readonly log = new LogBuffer();
  app!: Koa;
  signIn!: SignIn;
  private counter = 0;

  static async start(options: AttackOptions = {}): Promise<AttackHarness> {
    const harness = new AttackHarness();
    const config = parseConfig(
      {
        baseUrl: BASE_URL,
        logLevel: "silent",
        session: { keys: ["test-session-key-0123456789abcdefghijklmnop"], ...options.session },
        connections: [
          samlConnection(FIRST, options.connections?.[FIRST] ?? {}),
          samlConnection(SECOND, options.connections?.[SECOND] ?? {}),
        ],
      },
      { configDir: REPO_ROOT, env: {} },
    );
    const { app, signIn } = await createApp(config, {
      clock: harness.clock,
      ids: harness.ids,
      auditSink: harness.audit,
      logger: createLogger(options.captureLog ? "info" : "silent", harness.log),
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

  /** Starts a login at connection `id` as `browser` (a fresh one by default). */
  async login(
    id: string = FIRST,
    browser: Browser = new Browser(),
    returnTo = "/chart",
  ): Promise<{ requestId: string; cookies: Browser }> {
    const res = await this.http()
      .get(`/saml/${id}/login?returnTo=${encodeURIComponent(returnTo)}`)
      .set("Cookie", browser.header());
    if (res.status !== 302) throw new Error(`login returned ${res.status}`);
    const location = new URL(res.headers.location as string);
    const xml = inflateRawSync(
      Buffer.from(location.searchParams.get("SAMLRequest") ?? "", "base64"),
    ).toString("utf8");
    const requestId = /\sID="([^"]+)"/.exec(xml)?.[1];
    if (!requestId) throw new Error("no ID in the AuthnRequest");
    browser.store(res.headers["set-cookie"]);
    return { requestId, cookies: browser };
  }

  /** Entra-shaped fields for Alice addressed to connection `id`. */
  fields(id: string = FIRST, inResponseTo?: string): ResponseFields {
    this.counter += 1;
    return entraResponseFields({
      now: this.clock.now(),
      tenantId: DEMO_TENANT_ID,
      acsUrl: acsUrlOf(id),
      spEntityId: spEntityIdOf(id),
      nameId: ALICE.objectId,
      attributes: demoUserAttributes(ALICE),
      responseId: `_resp${this.counter}`,
      assertionId: `_assert${this.counter}`,
      ...(inResponseTo !== undefined ? { inResponseTo } : {}),
    });
  }

  /** Posts response XML to the ACS of connection `id` as `browser`, asking for JSON. */
  async postResponse(xml: string, browser: Browser, id: string = FIRST) {
    const res = await this.http()
      .post(`/saml/${id}/acs`)
      .set("Cookie", browser.header())
      .set("Accept", "application/json")
      .type("form")
      .send({ SAMLResponse: Buffer.from(xml, "utf8").toString("base64") });
    browser.store(res.headers["set-cookie"]);
    return res;
  }

  async session(browser: Browser) {
    return this.http()
      .get("/session")
      .set("Cookie", browser.header())
      .set("Accept", "application/json");
  }
}

/** Returns the Set-Cookie lines of a reply as an array. */
export function setCookies(res: { headers: Record<string, unknown> }): string[] {
  return ([] as string[]).concat((res.headers["set-cookie"] as string[] | undefined) ?? []);
}

/** Options of {@link signCustom}: what each Reference covers and where the Signature goes. */
export interface CustomSignature {
  /** XPath of each referenced element; more than one gives one SignedInfo with several References. */
  referenceXpaths: string[];
  /** XPath of the element the Signature is inserted after. */
  locationXpath: string;
  /** Writes `URI=""` (the whole document) in place of `#ID`. */
  emptyUri?: boolean;
  signing: { key: string; cert: string };
}

/** Signs `xml` with xml-crypto as the IdP would, but with the References a test chooses. */
export function signCustom(xml: string, options: CustomSignature): string {
  const signer = new SignedXml({
    privateKey: options.signing.key,
    publicCert: options.signing.cert,
    signatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    canonicalizationAlgorithm: "http://www.w3.org/2001/10/xml-exc-c14n#",
    getKeyInfoContent: SignedXml.getKeyInfoContent,
  });
  for (const xpath of options.referenceXpaths) {
    signer.addReference({
      xpath,
      transforms: [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
      ],
      digestAlgorithm: "http://www.w3.org/2001/04/xmlenc#sha256",
      isEmptyUri: options.emptyUri ?? false,
    });
  }
  signer.computeSignature(xml, {
    location: { reference: options.locationXpath, action: "after" },
  });
  return signer.getSignedXml();
}

/**
 * Checks that a reply rejected the sign-in with `code`, set no session cookie, and left
 * `browser` without a session; the AttackHarness twin of expectRejected.
 */
export async function expectRejectedAt(
  harness: AttackHarness,
  res: { status: number; body: { error?: string }; headers: Record<string, unknown> },
  code: string,
  browser: Browser,
): Promise<void> {
  const { expect } = await import("@jest/globals");
  expect(res.body.error).toBe(code);
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(setCookies(res).filter((line) => line.startsWith("fs_session="))).toEqual([]);
  expect((await harness.session(browser)).status).toBe(401);
}
