import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair } from "jose";
import type Koa from "koa";
import { FakeClock, captureLog } from "../session/helpers.js";
import { CookieJar, appGet, appPath, appPostForm, startService } from "../support/oidc-helpers.js";
import { RogueProvider } from "../support/oidc-rogue-provider.js";

const BASE = "http://127.0.0.1:8080";
const CLIENT_ID = "11111111-2222-4333-8444-555555555555";
const TENANT = "6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c";
const OTHER_TENANT = "99999999-8888-4777-8666-555555555555";

const clock = new FakeClock();
let rogue: RogueProvider;

beforeAll(async () => {
  rogue = await new RogueProvider({ clientId: CLIENT_ID, now: () => clock.now() }).start();
});

afterAll(async () => {
  await rogue.stop();
});

afterEach(() => {
  rogue.mutateClaims = () => {};
  rogue.forgeIdToken = undefined;
  rogue.extraRedirectParams = {};
  rogue.tokenError = undefined;
  rogue.tokenRequests = [];
});

function oidcConnection(extra: Record<string, unknown> = {}) {
  return {
    id: "rogue",
    type: "oidc" as const,
    issuer: rogue.issuer,
    clientId: CLIENT_ID,
    clientSecret: "rogue-secret",
    claims: "entra" as const,
    ...extra,
  };
}

async function service(extra: Record<string, unknown> = {}) {
  const log = captureLog();
  const started = await startService([oidcConnection(extra)], { clock, logger: log.logger });
  return { ...started, log };
}

/** Starts a login, lets the rogue provider respond, and returns the callback path with its query. */
async function authorize(app: Koa, jar: CookieJar, connectionId = "rogue"): Promise<string> {
  const login = await appGet(app, jar, `/oidc/${connectionId}/login`, false);
  expect(login.status).toBe(302);
  const response = await fetch(login.headers.location!, { redirect: "manual" });
  return appPath(response.headers.get("location")!, BASE);
}

async function expectRejected(app: Koa, jar: CookieJar, callbackPath: string, code: string) {
  const callback = await appGet(app, jar, callbackPath);
  expect(callback.body.error).toBe(code);
  expect((await appGet(app, jar, "/session")).status).toBe(401);
  return callback;
}

describe("OIDC id_token rules", () => {
  test("valid token signs in", async () => {
    const { app, signIn, log } = await service();
    const jar = new CookieJar();
    const callback = await appGet(app, jar, await authorize(app, jar));
    expect(callback.status).toBe(303);
    const session = await appGet(app, jar, "/session");
    expect(session.body.identity.id).toBe(`entra:${TENANT}:a1111111-1111-4111-8111-111111111111`);
    expect(log.text()).not.toContain("rogue-access-token");
    expect(log.text()).not.toContain("rogue-refresh-token");
    await signIn.close();
  });

  test("wrong nonce is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    rogue.mutateClaims = (claims) => (claims.nonce = "not-the-nonce");
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_NONCE_MISMATCH");
    await signIn.close();
  });

  test("missing nonce is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    rogue.mutateClaims = (claims) => delete claims.nonce;
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_NONCE_MISMATCH");
    await signIn.close();
  });

  test("wrong audience is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    rogue.mutateClaims = (claims) => (claims.aud = "another-client");
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_AUDIENCE_MISMATCH");
    await signIn.close();
  });

  test("foreign azp is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    rogue.mutateClaims = (claims) => {
      claims.aud = [CLIENT_ID, "another-client"];
      claims.azp = "another-client";
    };
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_AUDIENCE_MISMATCH");
    await signIn.close();
  });

  test("wrong issuer is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    rogue.mutateClaims = (claims) => (claims.iss = "https://evil.example/");
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_ISSUER_MISMATCH");
    await signIn.close();
  });

  test("expired token is rejected", async () => {
    const { app, signIn } = await service({ clockSkew: "30s" });
    const jar = new CookieJar();
    rogue.mutateClaims = (claims) => {
      claims.iat = Math.floor(clock.now() / 1000) - 600;
      claims.exp = Math.floor(clock.now() / 1000) - 60;
    };
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_TOKEN_EXPIRED");
    await signIn.close();
  });

  test("expiry within clockSkew is accepted", async () => {
    const { app, signIn } = await service({ clockSkew: "3m" });
    const jar = new CookieJar();
    rogue.mutateClaims = (claims) => {
      claims.iat = Math.floor(clock.now() / 1000) - 600;
      claims.exp = Math.floor(clock.now() / 1000) - 60;
    };
    const callback = await appGet(app, jar, await authorize(app, jar));
    expect(callback.status).toBe(303);
    expect((await appGet(app, jar, "/session")).status).toBe(200);
    await signIn.close();
  });

  test("expiry follows the injected clock", async () => {
    const { app, signIn } = await service({ clockSkew: "30s" });
    const jar = new CookieJar();
    const callbackPath = await authorize(app, jar);
    // The token is valid for 300 s from its iat. The injected clock then moves 6 minutes, which
    // stays inside the 10-minute transaction lifetime, so only the token's expiry can fail.
    const issuedAt = Math.floor(clock.now() / 1000);
    rogue.mutateClaims = (claims) => {
      claims.iat = issuedAt;
      claims.exp = issuedAt + 300;
    };
    clock.advance(6 * 60_000);
    await expectRejected(app, jar, callbackPath, "OIDC_TOKEN_EXPIRED");
    await signIn.close();
  });

  test("token not yet valid is rejected", async () => {
    const { app, signIn } = await service({ clockSkew: "30s" });
    const jar = new CookieJar();
    rogue.mutateClaims = (claims) => (claims.nbf = Math.floor(clock.now() / 1000) + 600);
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_TOKEN_EXPIRED");
    await signIn.close();
  });

  test("unsigned alg none is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    rogue.forgeIdToken = async (claims) => new UnsecuredJWT(claims).encode();
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_SIGNATURE_INVALID");
    await signIn.close();
  });

  test("HS256 keyed with public key is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    rogue.forgeIdToken = async (claims) => {
      const secret = new TextEncoder().encode(JSON.stringify(rogue.publicJwk));
      return new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: rogue.kid }).sign(secret);
    };
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_SIGNATURE_INVALID");
    await signIn.close();
  });

  test("signature by unknown key is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const other = await generateKeyPair("RS256");
    rogue.forgeIdToken = (claims) => rogue.sign(claims, other.privateKey, rogue.kid);
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_SIGNATURE_INVALID");
    await signIn.close();
  });

  test("tampered payload is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    rogue.forgeIdToken = async (claims) => {
      const [header, , signature] = (await rogue.sign(claims)).split(".");
      const changed = Buffer.from(
        JSON.stringify({ ...claims, oid: "b2222222-2222-4222-8222-222222222222" }),
      ).toString("base64url");
      return `${header}.${changed}.${signature}`;
    };
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_SIGNATURE_INVALID");
    await signIn.close();
  });

  test("tenant outside allowedTenants is rejected", async () => {
    const { app, signIn } = await service({ allowedTenants: [OTHER_TENANT] });
    const jar = new CookieJar();
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_TENANT_NOT_ALLOWED");
    await signIn.close();
  });

  test("missing tid with allowedTenants is rejected", async () => {
    const { app, signIn } = await service({ allowedTenants: [TENANT] });
    const jar = new CookieJar();
    rogue.mutateClaims = (claims) => delete claims.tid;
    await expectRejected(app, jar, await authorize(app, jar), "OIDC_TENANT_NOT_ALLOWED");
    await signIn.close();
  });
});

describe("OIDC state and browser binding", () => {
  test("forged state is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    await authorize(app, jar);
    await expectRejected(
      app,
      jar,
      "/oidc/rogue/callback?code=rogue-code&state=forged",
      "OIDC_STATE_MISMATCH",
    );
    await signIn.close();
  });

  test("missing state is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    await authorize(app, jar);
    await expectRejected(app, jar, "/oidc/rogue/callback?code=rogue-code", "OIDC_STATE_MISMATCH");
    await signIn.close();
  });

  test("state from another browser is rejected", async () => {
    const { app, signIn } = await service();
    const victim = new CookieJar();
    const attacker = new CookieJar();
    await appGet(app, attacker, "/oidc/rogue/login", false);
    const callbackPath = await authorize(app, victim);
    await expectRejected(app, attacker, callbackPath, "OIDC_STATE_MISMATCH");
    expect(rogue.tokenRequests).toHaveLength(0);
    await signIn.close();
  });

  test("state without binding cookie is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const callbackPath = await authorize(app, jar);
    await expectRejected(app, new CookieJar(), callbackPath, "OIDC_STATE_MISMATCH");
    await signIn.close();
  });

  test("replayed state is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const callbackPath = await authorize(app, jar);
    expect((await appGet(app, jar, callbackPath)).status).toBe(303);
    const replayJar = jar.clone();
    const replay = await appGet(app, replayJar, callbackPath);
    expect(replay.body.error).toBe("OIDC_STATE_MISMATCH");
    // The session of the first, valid callback is unchanged.
    expect((await appGet(app, jar, "/session")).status).toBe(200);
    expect(rogue.tokenRequests).toHaveLength(1);
    await signIn.close();
  });

  test("expired transaction is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const callbackPath = await authorize(app, jar);
    clock.advance(11 * 60_000);
    await expectRejected(app, jar, callbackPath, "OIDC_STATE_MISMATCH");
    await signIn.close();
  });

  test("rejected callback keeps existing session", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    expect((await appGet(app, jar, await authorize(app, jar))).status).toBe(303);
    const before = await appGet(app, jar, "/session");
    rogue.mutateClaims = (claims) => {
      claims.oid = "b2222222-2222-4222-8222-222222222222";
      claims.nonce = "wrong";
    };
    const bad = await appGet(app, jar, await authorize(app, jar));
    expect(bad.body.error).toBe("OIDC_NONCE_MISMATCH");
    const after = await appGet(app, jar, "/session");
    expect(after.body.identity.id).toBe(before.body.identity.id);
    await signIn.close();
  });

  test("query response to form_post connection is rejected", async () => {
    const { app, signIn } = await service({ responseMode: "form_post" });
    const jar = new CookieJar();
    const login = await appGet(app, jar, "/oidc/rogue/login", false);
    const state = new URL(login.headers.location!).searchParams.get("state")!;
    await expectRejected(
      app,
      jar,
      `/oidc/rogue/callback?code=rogue-code&state=${state}`,
      "BAD_REQUEST",
    );
    await signIn.close();
  });

  test("form_post callback is accepted", async () => {
    const { app, signIn } = await service({ responseMode: "form_post" });
    const jar = new CookieJar();
    const login = await appGet(app, jar, "/oidc/rogue/login", false);
    const authorizationUrl = new URL(login.headers.location!);
    rogue.lastNonce = authorizationUrl.searchParams.get("nonce")!;
    const state = authorizationUrl.searchParams.get("state")!;
    const callback = await appPostForm(app, jar, "/oidc/rogue/callback", {
      code: "rogue-code",
      state,
    });
    expect(callback.status).toBe(303);
    expect((await appGet(app, jar, "/session")).status).toBe(200);
    await signIn.close();
  });
});

describe("OIDC authorization response iss parameter", () => {
  let issRogue: RogueProvider;

  beforeAll(async () => {
    issRogue = await new RogueProvider({
      clientId: CLIENT_ID,
      now: () => clock.now(),
      authorizationResponseIssParameterSupported: true,
    }).start();
  });

  afterAll(async () => {
    await issRogue.stop();
  });

  async function issService() {
    return startService([oidcConnection({ issuer: issRogue.issuer })], { clock });
  }

  test("matching iss parameter is accepted", async () => {
    const { app, signIn } = await issService();
    const jar = new CookieJar();
    issRogue.extraRedirectParams = { iss: issRogue.issuer };
    const login = await appGet(app, jar, "/oidc/rogue/login", false);
    const response = await fetch(login.headers.location!, { redirect: "manual" });
    const callback = await appGet(app, jar, appPath(response.headers.get("location")!, BASE));
    expect(callback.status).toBe(303);
    await signIn.close();
  });

  test("mismatched iss parameter is rejected", async () => {
    const { app, signIn } = await issService();
    const jar = new CookieJar();
    issRogue.extraRedirectParams = { iss: "https://evil.example" };
    issRogue.tokenRequests = [];
    const login = await appGet(app, jar, "/oidc/rogue/login", false);
    const response = await fetch(login.headers.location!, { redirect: "manual" });
    await expectRejected(
      app,
      jar,
      appPath(response.headers.get("location")!, BASE),
      "OIDC_ISSUER_MISMATCH",
    );
    expect(issRogue.tokenRequests).toHaveLength(0);
    await signIn.close();
  });

  test("missing iss parameter is rejected", async () => {
    const { app, signIn } = await issService();
    const jar = new CookieJar();
    issRogue.extraRedirectParams = {};
    const login = await appGet(app, jar, "/oidc/rogue/login", false);
    const response = await fetch(login.headers.location!, { redirect: "manual" });
    await expectRejected(
      app,
      jar,
      appPath(response.headers.get("location")!, BASE),
      "OIDC_ISSUER_MISMATCH",
    );
    await signIn.close();
  });
});

describe("OIDC provider errors", () => {
  test("AADSTS50011 gives redirect URI advice", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const login = await appGet(app, jar, "/oidc/rogue/login", false);
    const state = new URL(login.headers.location!).searchParams.get("state")!;
    const description = "AADSTS50011: The redirect URI specified in the request does not match.";
    const callback = await expectRejected(
      app,
      jar,
      `/oidc/rogue/callback?error=invalid_request&error_description=${encodeURIComponent(description)}&state=${state}`,
      "OIDC_PROVIDER_ERROR",
    );
    expect(callback.body.fix).toMatch(/redirect URI/);
    expect(callback.body.providerMessage).toContain("AADSTS50011");
    await signIn.close();
  });

  test("token endpoint invalid_client is reported", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    rogue.tokenError = {
      error: "invalid_client",
      error_description: "AADSTS7000215: Invalid client secret provided.",
    };
    const callback = await expectRejected(
      app,
      jar,
      await authorize(app, jar),
      "OIDC_PROVIDER_ERROR",
    );
    expect(callback.body.fix).toMatch(/secret/);
    await signIn.close();
  });
});

describe("OIDC client authentication", () => {
  test("client_secret_basic sends Authorization header", async () => {
    const { app, signIn } = await service({ tokenEndpointAuthMethod: "client_secret_basic" });
    const jar = new CookieJar();
    await appGet(app, jar, await authorize(app, jar));
    const sent = rogue.tokenRequests[0]!;
    const [scheme, encoded] = (sent.authorization ?? "").split(" ");
    expect(scheme).toBe("Basic");
    const [user, password] = Buffer.from(encoded ?? "", "base64")
      .toString("utf8")
      .split(":");
    // RFC 6749 2.3.1: client_id and secret are form-urlencoded before Basic encoding.
    expect(decodeURIComponent(user ?? "")).toBe(CLIENT_ID);
    expect(decodeURIComponent(password ?? "")).toBe("rogue-secret");
    expect(sent.form.get("client_secret")).toBeNull();
    expect(sent.form.get("code_verifier")).toMatch(/^[\w-]{43,128}$/);
    await signIn.close();
  });

  test("client_secret_post sends secret in body", async () => {
    const { app, signIn } = await service({ tokenEndpointAuthMethod: "client_secret_post" });
    const jar = new CookieJar();
    await appGet(app, jar, await authorize(app, jar));
    const sent = rogue.tokenRequests[0]!;
    expect(sent.authorization).toBeUndefined();
    expect(sent.form.get("client_secret")).toBe("rogue-secret");
    await signIn.close();
  });

  test.each(["rsa", "ec"] as const)("private_key_jwt signs assertion (%s)", async (type) => {
    const pair =
      type === "rsa"
        ? generateKeyPairSync("rsa", { modulusLength: 2048 })
        : generateKeyPairSync("ec", { namedCurve: "P-256" });
    const dir = mkdtempSync(path.join(tmpdir(), "fs-oidc-key-"));
    const keyFile = path.join(dir, "client.key");
    writeFileSync(keyFile, pair.privateKey.export({ format: "pem", type: "pkcs8" }));
    const publicJwk = {
      ...(await exportJWK(pair.publicKey)),
      alg: type === "rsa" ? "RS256" : "ES256",
    };
    const { app, signIn } = await service({ clientSecret: undefined, privateKeyFile: keyFile });
    const jar = new CookieJar();
    expect((await appGet(app, jar, await authorize(app, jar))).status).toBe(303);
    const sent = rogue.tokenRequests[0]!;
    expect(sent.form.get("client_assertion_type")).toBe(
      "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    );
    const assertion = await RogueProvider.verifyAssertion(
      sent.form.get("client_assertion")!,
      publicJwk,
      clock.now(),
    );
    expect(assertion.iss).toBe(CLIENT_ID);
    expect(assertion.sub).toBe(CLIENT_ID);
    expect(assertion.aud).toBeTruthy();
    await signIn.close();
  });
});

describe("OIDC signing keys", () => {
  test("keys are cached across sign-ins", async () => {
    const { app, signIn } = await service();
    const before = rogue.jwksRequests;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const jar = new CookieJar();
      expect((await appGet(app, jar, await authorize(app, jar))).status).toBe(303);
    }
    expect(rogue.jwksRequests - before).toBe(1);
    await signIn.close();
  });

  test("unknown kid within a minute is not refetched", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const before = rogue.jwksRequests;
    expect((await appGet(app, jar, await authorize(app, jar))).status).toBe(303);
    const rotated = await generateKeyPair("RS256");
    rogue.forgeIdToken = (claims) => rogue.sign(claims, rotated.privateKey, "rogue-key-2");
    const second = new CookieJar();
    await expectRejected(app, second, await authorize(app, second), "OIDC_SIGNATURE_INVALID");
    expect(rogue.jwksRequests - before).toBe(1);
    await signIn.close();
  });
});
