// Attacks on the OpenID Connect callback: state binding across connections and browsers,
// response mode confusion, and ID token header and claim tricks. Each test asserts the safe
// outcome: a coded error and no session.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import { SignJWT, UnsecuredJWT, generateKeyPair } from "jose";
import type Koa from "koa";
import request from "supertest";
import { FakeClock, captureLog } from "../session/helpers.js";
import { CookieJar, appGet, appPath, appPostForm, startService } from "../support/oidc-helpers.js";
import { RogueProvider } from "../support/oidc-rogue-provider.js";

const BASE = "http://127.0.0.1:8080";
const CLIENT_ID = "attack-oidc-client";

const clock = new FakeClock();
let provider: RogueProvider;

beforeAll(async () => {
  provider = await new RogueProvider({ clientId: CLIENT_ID, now: () => clock.now() }).start();
});

afterAll(async () => {
  await provider.stop();
});

afterEach(() => {
  provider.mutateClaims = () => {};
  provider.forgeIdToken = undefined;
  provider.extraRedirectParams = {};
  provider.tokenRequests = [];
  provider.jwks = [provider.publicJwk];
});

function connection(id: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    type: "oidc" as const,
    issuer: provider.issuer,
    clientId: CLIENT_ID,
    clientSecret: "attack-secret",
    claims: "entra" as const,
    ...extra,
  };
}

async function service(connections = [connection("alpha"), connection("beta")]) {
  const log = captureLog();
  const started = await startService(connections, { clock, logger: log.logger });
  return { ...started, log };
}

/** Starts a login at `id` and returns the path and query the provider sends the browser back to. */
async function authorize(app: Koa, jar: CookieJar, id: string): Promise<string> {
  const login = await appGet(app, jar, `/oidc/${id}/login`, false);
  expect(login.status).toBe(302);
  const back = await fetch(login.headers.location!, { redirect: "manual" });
  return appPath(back.headers.get("location")!, BASE);
}

async function expectRejected(app: Koa, jar: CookieJar, path: string, code: string) {
  const callback = await appGet(app, jar, path);
  expect(callback.body.error).toBe(code);
  expect((await appGet(app, jar, "/session")).status).toBe(401);
}

describe("state binding", () => {
  it("rejects connection A's state at B's callback", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const alphaCallback = await authorize(app, jar, "alpha");
    // A second login at beta gives the browser a binding cookie for /oidc/beta too.
    await authorize(app, jar, "beta");
    provider.tokenRequests = [];
    const atBeta = alphaCallback.replace("/oidc/alpha/", "/oidc/beta/");

    await expectRejected(app, jar, atBeta, "OIDC_STATE_MISMATCH");
    expect(provider.tokenRequests).toHaveLength(0);
    await signIn.close();
  });

  it("rejects a replayed callback after success", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const callbackPath = await authorize(app, jar, "alpha");
    expect((await appGet(app, jar, callbackPath)).status).toBe(303);

    const other = new CookieJar();
    await expectRejected(app, other, callbackPath, "OIDC_STATE_MISMATCH");
    await signIn.close();
  });

  it("rejects a code injected into another browser's flow", async () => {
    const { app, signIn } = await service();
    const victim = new CookieJar();
    const attacker = new CookieJar();
    const attackerCallback = await authorize(app, attacker, "alpha");
    await authorize(app, victim, "alpha");
    provider.tokenRequests = [];

    // The attacker's code and state, submitted in the victim's browser (login CSRF).
    await expectRejected(app, victim, attackerCallback, "OIDC_STATE_MISMATCH");
    expect(provider.tokenRequests).toHaveLength(0);
    await signIn.close();
  });

  it("rejects an over-long state without a store read", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    await expectRejected(
      app,
      jar,
      `/oidc/alpha/callback?code=x&state=${"s".repeat(5000)}`,
      "OIDC_STATE_MISMATCH",
    );
    await signIn.close();
  });
});

describe("response mode", () => {
  it("rejects a form post at a query-mode callback", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const callbackPath = await authorize(app, jar, "alpha");
    const query = new URL(callbackPath, BASE).searchParams;
    const res = await appPostForm(app, jar, "/oidc/alpha/callback", Object.fromEntries(query));
    expect(res.body.error).toBe("BAD_REQUEST");
    // The transaction survives the rejected post, so the real redirect still completes.
    expect((await appGet(app, jar, callbackPath)).status).toBe(303);
    await signIn.close();
  });

  it("rejects a query callback at a form_post connection", async () => {
    const { app, signIn } = await service([connection("alpha", { responseMode: "form_post" })]);
    const jar = new CookieJar();
    const login = await appGet(app, jar, "/oidc/alpha/login", false);
    const authorizationUrl = new URL(login.headers.location!);
    expect(authorizationUrl.searchParams.get("response_mode")).toBe("form_post");
    const back = await fetch(authorizationUrl, { redirect: "manual" });
    const callbackPath = appPath(back.headers.get("location")!, BASE);

    await expectRejected(app, jar, callbackPath, "BAD_REQUEST");
    await signIn.close();
  });

  it("rejects an iss response parameter naming another issuer", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    provider.extraRedirectParams = { iss: "https://evil.example.test" };
    await expectRejected(app, jar, await authorize(app, jar, "alpha"), "OIDC_ISSUER_MISMATCH");
    expect(provider.tokenRequests).toHaveLength(0);
    await signIn.close();
  });
});

describe("ID token header tricks", () => {
  const cases: Array<[string, (claims: Record<string, unknown>) => Promise<string>]> = [
    ["alg none", async (claims) => new UnsecuredJWT(claims).encode()],
    [
      "HS256 keyed with the public JWK",
      async (claims) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: "HS256", kid: provider.kid })
          .sign(new TextEncoder().encode(JSON.stringify(provider.publicJwk))),
    ],
    [
      "HS256 keyed with the modulus",
      async (claims) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: "HS256", kid: provider.kid })
          .sign(new TextEncoder().encode(String(provider.publicJwk.n))),
    ],
    [
      "PS256, which the provider does not advertise",
      async (claims) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: "PS256", kid: provider.kid })
          .sign(provider.signingKey),
    ],
    [
      "an unknown crit header",
      async (claims) =>
        new SignJWT(claims)
          .setProtectedHeader({
            alg: "RS256",
            kid: provider.kid,
            crit: ["x-attack"],
            "x-attack": 1,
          })
          .sign(provider.signingKey, { crit: { "x-attack": true } }),
    ],
    [
      "a key that is not in the JWKS",
      async (claims) => {
        const { privateKey } = await generateKeyPair("RS256");
        return provider.sign(claims, privateKey, provider.kid);
      },
    ],
  ];

  it.each(cases)("rejects %s", async (_name, forge) => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    provider.forgeIdToken = forge;
    const callback = await appGet(app, jar, await authorize(app, jar, "alpha"));
    expect(callback.status).toBeGreaterThanOrEqual(400);
    expect(String(callback.body.error)).toMatch(/^OIDC_(SIGNATURE_INVALID|TOKEN_INVALID)$/);
    expect((await appGet(app, jar, "/session")).status).toBe(401);
    await signIn.close();
  });

  it("bounds JWKS fetches under unknown kid flooding", async () => {
    const { app, signIn } = await service();
    const flood = 6;
    provider.jwksRequests = 0;
    provider.forgeIdToken = async (claims) =>
      provider.sign(claims, provider.signingKey, `unknown-${Math.random()}`);
    for (let attempt = 0; attempt < flood; attempt += 1) {
      const jar = new CookieJar();
      const callback = await appGet(app, jar, await authorize(app, jar, "alpha"));
      expect(callback.body.error).toBe("OIDC_SIGNATURE_INVALID");
    }
    // One fetch fills the cache and at most one refetch follows, because the cache is under 60 s old.
    expect(provider.jwksRequests).toBeLessThanOrEqual(2);
    await signIn.close();
  });
});

describe("ID token claim tricks", () => {
  const cases: Array<[string, (claims: Record<string, unknown>) => void, RegExp]> = [
    [
      "an extra audience without azp",
      (claims) => (claims.aud = [CLIENT_ID, "other-client"]),
      /^OIDC_AUDIENCE_MISMATCH$/,
    ],
    [
      "an extra audience with a foreign azp",
      (claims) => {
        claims.aud = [CLIENT_ID, "other-client"];
        claims.azp = "other-client";
      },
      /^OIDC_AUDIENCE_MISMATCH$/,
    ],
    [
      "exp as a string",
      (claims) => (claims.exp = String(claims.exp)),
      /^OIDC_TOKEN_(INVALID|EXPIRED)$/,
    ],
    [
      "iat as a string",
      (claims) => (claims.iat = String(claims.iat)),
      /^OIDC_TOKEN_(INVALID|EXPIRED)$/,
    ],
    [
      "an expired exp",
      (claims) => (claims.exp = Number(claims.iat) - 3600),
      /^OIDC_TOKEN_EXPIRED$/,
    ],
    [
      "nbf an hour ahead",
      (claims) => (claims.nbf = Number(claims.iat) + 3600),
      /^OIDC_TOKEN_EXPIRED$/,
    ],
    [
      "a foreign issuer",
      (claims) => (claims.iss = "https://evil.example.test"),
      /^OIDC_ISSUER_MISMATCH$/,
    ],
    ["no sub", (claims) => delete claims.sub, /^OIDC_TOKEN_INVALID$/],
  ];

  it.each(cases)("rejects %s", async (_name, mutate, code) => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    provider.mutateClaims = mutate;
    const callback = await appGet(app, jar, await authorize(app, jar, "alpha"));
    expect(String(callback.body.error)).toMatch(code);
    expect((await appGet(app, jar, "/session")).status).toBe(401);
    await signIn.close();
  });

  it("rejects a huge ID token without a crash", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    provider.mutateClaims = (claims) => (claims.aud = [CLIENT_ID, ...Array(20_000).fill("x")]);
    const callback = await appGet(app, jar, await authorize(app, jar, "alpha"));
    expect(callback.body.error).toBe("OIDC_AUDIENCE_MISMATCH");
    expect((await appGet(app, jar, "/healthz")).status).toBe(200);
    await signIn.close();
  });

  it("keeps tokens out of the session, headers, logs, audit and traces", async () => {
    const log = captureLog();
    const { app, signIn, audit } = await startService([connection("alpha", { trace: true })], {
      clock,
      logger: log.logger,
    });
    const jar = new CookieJar();
    expect((await appGet(app, jar, await authorize(app, jar, "alpha"))).status).toBe(303);
    const session = await appGet(app, jar, "/session");
    const auth = await request(app.callback()).get("/auth").set("Cookie", jar.header());
    const stored = JSON.stringify(await signIn.services.store.get("trace:alpha"));
    const outputs = [
      JSON.stringify(session.body),
      JSON.stringify(auth.headers),
      log.text(),
      JSON.stringify(audit.events()),
      stored,
    ];
    for (const output of outputs) {
      expect(output).not.toContain("rogue-access-token");
      expect(output).not.toContain("rogue-refresh-token");
      expect(output).not.toContain("rogue-code");
      expect(output).not.toMatch(/eyJ[\w-]+\.eyJ/);
    }
    await signIn.close();
  });
});
