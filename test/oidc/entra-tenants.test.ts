import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { readFileSync } from "node:fs";
import path from "node:path";
import type Koa from "koa";
import type { CustomFetch } from "openid-client";
import { FakeClock } from "../session/helpers.js";
import { CookieJar, appGet, appPath, startService } from "../support/oidc-helpers.js";
import { RogueProvider } from "../support/oidc-rogue-provider.js";

// These tests run openid-client's real Entra issuer handling, which it applies only to the
// https://login.microsoftonline.com origin. A test fetch routes that origin to a loopback
// provider, and every other origin fails the request.

const BASE = "http://127.0.0.1:8080";
const ENTRA_ORIGIN = "https://login.microsoftonline.com";
const CLIENT_ID = "11111111-2222-4333-8444-555555555555";
const TENANT = "6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c";
const OTHER_TENANT = "99999999-8888-4777-8666-555555555555";
const OID = "a1111111-1111-4111-8111-111111111111";

/** Entra's v2.0 discovery document of `common`, with the `{tenantid}` issuer template. */
const COMMON_DOCUMENT = JSON.parse(
  readFileSync(
    path.join(
      process.cwd(),
      "test",
      "oidc",
      "fixtures",
      "entra-openid-configuration-common-v2.json",
    ),
    "utf8",
  ),
) as Record<string, unknown>;

const clock = new FakeClock();
let entra: RogueProvider;

function tenantIssuer(tenant: string): string {
  return `${ENTRA_ORIGIN}/${tenant}/v2.0`;
}

/**
 * Builds the discovery document Entra serves for the authority in `discoveryPath`: the `common`
 * document with `/common/` in every endpoint replaced by that authority, and for a tenant GUID
 * a concrete issuer in place of the template.
 */
function entraDocument(discoveryPath: string): Record<string, unknown> {
  const authority = discoveryPath.split("/")[1] ?? "";
  const document: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(COMMON_DOCUMENT)) {
    document[name] =
      typeof value === "string"
        ? value.replace(`${ENTRA_ORIGIN}/common/`, `${ENTRA_ORIGIN}/${authority}/`)
        : value;
  }
  if (/^[0-9a-f-]{36}$/.test(authority)) document.issuer = tenantIssuer(authority);
  return document;
}

/** Rewrites a login.microsoftonline.com URL to the loopback provider, and throws for others. */
function toLoopback(url: string): string {
  const parsed = new URL(url);
  if (parsed.origin !== ENTRA_ORIGIN)
    throw new Error(`test fetch: unexpected origin ${parsed.origin}`);
  return `${entra.base}${parsed.pathname}${parsed.search}`;
}

const routeEntraToLoopback: CustomFetch = (url, options) => fetch(toLoopback(url), options);

beforeAll(async () => {
  entra = await new RogueProvider({
    clientId: CLIENT_ID,
    now: () => clock.now(),
    issuer: tenantIssuer(TENANT),
  }).start();
  entra.discoveryDocument = entraDocument;
});

afterAll(async () => {
  await entra.stop();
});

afterEach(() => {
  entra.mutateClaims = () => {};
  entra.tokenRequests = [];
});

async function service(issuer: string, allowedTenants?: string[]) {
  return startService(
    [
      {
        id: "entra",
        type: "oidc" as const,
        issuer,
        clientId: CLIENT_ID,
        clientSecret: "entra-secret",
        claims: "entra" as const,
        ...(allowedTenants ? { allowedTenants } : {}),
      },
    ],
    { clock, fetch: routeEntraToLoopback },
  );
}

/** Starts a login, lets the loopback Entra respond, and returns our callback path. */
async function authorize(app: Koa, jar: CookieJar): Promise<string> {
  const login = await appGet(app, jar, "/oidc/entra/login", false);
  expect(login.status).toBe(302);
  const authorizationUrl = login.headers.location!;
  expect(new URL(authorizationUrl).origin).toBe(ENTRA_ORIGIN);
  const response = await fetch(toLoopback(authorizationUrl), { redirect: "manual" });
  return appPath(response.headers.get("location")!, BASE);
}

/** Makes the next ID token come from `issuerTenant` with the claim `tid` = `tid`. */
function tokenFrom(issuerTenant: string, tid: string): void {
  entra.mutateClaims = (claims) => {
    claims.iss = tenantIssuer(issuerTenant);
    claims.tid = tid;
  };
}

async function expectRejected(app: Koa, jar: CookieJar, callbackPath: string, code: string) {
  const callback = await appGet(app, jar, callbackPath);
  expect(callback.body.error).toBe(code);
  expect((await appGet(app, jar, "/session")).status).toBe(401);
}

describe("Entra multi-tenant issuer", () => {
  test.each(["common", "organizations"])("%s accepts allowed tenant", async (authority) => {
    const { app, signIn } = await service(tenantIssuer(authority), [TENANT]);
    const jar = new CookieJar();
    tokenFrom(TENANT, TENANT);
    const callback = await appGet(app, jar, await authorize(app, jar));
    expect(callback.status).toBe(303);
    expect(entra.tokenRequests).toHaveLength(1);
    const session = await appGet(app, jar, "/session");
    expect(session.status).toBe(200);
    expect(session.body.identity.issuer).toBe(tenantIssuer(TENANT));
    expect(session.body.identity.tenantId).toBe(TENANT);
    expect(session.body.identity.id).toBe(`entra:${TENANT}:${OID}`);
    await signIn.close();
  });

  test("tenant outside allowedTenants is rejected", async () => {
    const { app, signIn } = await service(tenantIssuer("organizations"), [TENANT]);
    const jar = new CookieJar();
    tokenFrom(OTHER_TENANT, OTHER_TENANT);
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_TENANT_NOT_ALLOWED");
    await signIn.close();
  });

  test.each([
    ["issuer of another tenant", OTHER_TENANT, TENANT],
    ["tid of another tenant", TENANT, OTHER_TENANT],
  ])("iss not matching tid (%s) is rejected", async (_case, issuerTenant, tid) => {
    const { app, signIn } = await service(tenantIssuer("common"), [TENANT, OTHER_TENANT]);
    const jar = new CookieJar();
    tokenFrom(issuerTenant, tid);
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_ISSUER_MISMATCH");
    await signIn.close();
  });

  test("missing tid is rejected", async () => {
    const { app, signIn } = await service(tenantIssuer("common"), [TENANT]);
    const jar = new CookieJar();
    entra.mutateClaims = (claims) => {
      claims.iss = tenantIssuer(TENANT);
      delete claims.tid;
    };
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_ISSUER_MISMATCH");
    await signIn.close();
  });
});

describe("Entra single-tenant issuer", () => {
  test("own tenant signs in", async () => {
    const { app, signIn } = await service(tenantIssuer(TENANT));
    const jar = new CookieJar();
    tokenFrom(TENANT, TENANT);
    expect((await appGet(app, jar, await authorize(app, jar))).status).toBe(303);
    expect((await appGet(app, jar, "/session")).body.identity.tenantId).toBe(TENANT);
    await signIn.close();
  });

  test("token of another tenant is rejected", async () => {
    const { app, signIn } = await service(tenantIssuer(TENANT));
    const jar = new CookieJar();
    tokenFrom(OTHER_TENANT, OTHER_TENANT);
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_ISSUER_MISMATCH");
    await signIn.close();
  });
});
