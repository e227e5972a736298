// Attacks on logout: forged and replayed back-channel logout tokens, cross-site POST /logout,
// open redirects through returnTo, and HTTP-Redirect binding tricks on SAML single logout.
// A rejected logout message must end no session.
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { SignJWT, generateKeyPair } from "jose";
import type Koa from "koa";
import request from "supertest";
import { buildRedirectUrl, SIGNATURE_ALGORITHMS } from "../../src/saml/redirect-binding.js";
import { RedisStore } from "../../src/session/redis-store.js";
import { samlInstant } from "../../src/saml/xml.js";
import {
  ALICE,
  SLO_PATH,
  idpLogoutRequestXml,
  samlSignIn,
  signedRedirectLogout,
} from "../logout/support.js";
import {
  FakeClock,
  MAIN_REDIS_URL,
  captureLog,
  deleteKeysWithPrefix,
  randomPrefix,
  type CapturedLog,
} from "../session/helpers.js";
import { CookieJar, appGet, appPath, startService } from "../support/oidc-helpers.js";
import { RogueProvider } from "../support/oidc-rogue-provider.js";
import { IDP_KEY, SamlHarness } from "../support/saml-harness.js";

const BASE = "http://127.0.0.1:8080";
const CLIENT_ID = "attack-logout-client";
const EVENT = "http://schemas.openid.net/event/backchannel-logout";

const clock = new FakeClock();
let provider: RogueProvider;

beforeAll(async () => {
  provider = await new RogueProvider({ clientId: CLIENT_ID, now: () => clock.now() }).start();
});

afterAll(async () => {
  await provider.stop();
});

interface Instance {
  app: Koa;
  log: CapturedLog;
  close(): Promise<void>;
}

async function startInstance(prefix: string, id = "rogue"): Promise<Instance> {
  const log = captureLog();
  const { app, signIn } = await startService(
    [
      {
        id,
        type: "oidc",
        issuer: provider.issuer,
        clientId: CLIENT_ID,
        clientSecret: "attack-secret",
        claims: "entra",
      },
    ],
    { clock, logger: log.logger, store: new RedisStore({ url: MAIN_REDIS_URL, prefix }) },
  );
  return { app, log, close: () => signIn.close() };
}

async function signInWith(instance: Instance, sub: string, sid: string, id = "rogue") {
  provider.mutateClaims = (claims) => {
    claims.sub = sub;
    claims.sid = sid;
  };
  const jar = new CookieJar();
  const login = await appGet(instance.app, jar, `/oidc/${id}/login`, false);
  const back = await fetch(login.headers.location!, { redirect: "manual" });
  const callback = await appGet(instance.app, jar, appPath(back.headers.get("location")!, BASE));
  expect(callback.status).toBe(303);
  provider.mutateClaims = () => {};
  return jar;
}

function logoutClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const nowSeconds = Math.floor(clock.now() / 1000);
  return {
    iss: provider.issuer,
    aud: CLIENT_ID,
    iat: nowSeconds,
    jti: randomUUID(),
    events: { [EVENT]: {} },
    sub: "user-a",
    sid: "sid-a",
    ...extra,
  };
}

function signLogout(
  claims: Record<string, unknown>,
  kid = provider.kid,
  key = provider.signingKey,
) {
  return new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid, typ: "logout+jwt" }).sign(key);
}

function postLogoutToken(app: Koa, body: string | Record<string, string>, id = "rogue") {
  return request(app.callback()).post(`/oidc/${id}/backchannel-logout`).type("form").send(body);
}

async function status(app: Koa, jar: CookieJar): Promise<number> {
  return (await appGet(app, jar, "/session")).status;
}

describe("back-channel logout", () => {
  let prefix: string;
  let a: Instance;
  let b: Instance;
  let userA: CookieJar;
  let userB: CookieJar;

  beforeEach(async () => {
    prefix = randomPrefix();
    a = await startInstance(prefix);
    b = await startInstance(prefix);
    userA = await signInWith(a, "user-a", "sid-a");
    userB = await signInWith(a, "user-b", "sid-b");
  });

  afterEach(async () => {
    await a.close();
    await b.close();
    await deleteKeysWithPrefix(MAIN_REDIS_URL, prefix);
  });

  const rejected: Array<[string, Record<string, unknown>]> = [
    ["events as an array", { events: [EVENT] }],
    ["events with a string value", { events: { [EVENT]: "logout" } }],
    ["events naming another event", { events: { "http://example.test/event": {} } }],
    ["a nonce", { nonce: "n-1" }],
    ["iat in the future", { iat: Math.floor(clock.now() / 1000) + 3600 }],
    ["iat a day old", { iat: Math.floor(clock.now() / 1000) - 86_400 }],
    ["exp as a string", { exp: String(Math.floor(clock.now() / 1000) + 60) }],
    ["another audience", { aud: "other-client" }],
    ["another issuer", { iss: "https://evil.example.test" }],
    ["no jti", { jti: undefined }],
    ["neither sub nor sid", { sub: undefined, sid: undefined }],
  ];

  it.each(rejected)("rejects a token with %s", async (_name, change) => {
    const claims = logoutClaims(change);
    for (const [name, value] of Object.entries(claims))
      if (value === undefined) delete claims[name];
    const res = await postLogoutToken(b.app, { logout_token: await signLogout(claims) });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_request" });
    expect(await status(a.app, userA)).toBe(200);
    expect(await status(a.app, userB)).toBe(200);
  });

  it("ends nobody when sid and sub name two users", async () => {
    const token = await signLogout(logoutClaims({ sid: "sid-b", sub: "user-a" }));
    // A valid token that matches no session still gets 200, as Back-Channel Logout 1.0 requires.
    expect((await postLogoutToken(b.app, { logout_token: token })).status).toBe(200);
    expect(await status(a.app, userA)).toBe(200);
    expect(await status(a.app, userB)).toBe(200);
  });

  it("ends only the user the token names", async () => {
    const res = await postLogoutToken(b.app, {
      logout_token: await signLogout(logoutClaims({ sid: undefined, sub: "user-b" })),
    });
    expect(res.status).toBe(200);
    expect(await status(a.app, userB)).toBe(401);
    expect(await status(a.app, userA)).toBe(200);
  });

  it("rejects a jti replayed at another instance", async () => {
    const token = await signLogout(logoutClaims({ sid: "sid-b", sub: undefined }));
    expect((await postLogoutToken(a.app, { logout_token: token })).status).toBe(200);
    const userB2 = await signInWith(b, "user-b", "sid-b");
    const replay = await postLogoutToken(b.app, { logout_token: token });
    expect(replay.status).toBe(400);
    expect(await status(b.app, userB2)).toBe(200);
    expect(b.log.text()).not.toContain(token);
  });

  it("rejects a token signed by a key outside the JWKS", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const token = await signLogout(logoutClaims(), provider.kid, privateKey);
    expect((await postLogoutToken(b.app, { logout_token: token })).status).toBe(400);
    expect(await status(a.app, userA)).toBe(200);
  });

  it("bounds JWKS fetches under unknown kid flooding", async () => {
    provider.jwksRequests = 0;
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const token = await signLogout(logoutClaims(), `unknown-${attempt}`);
      expect((await postLogoutToken(b.app, { logout_token: token })).status).toBe(400);
    }
    // One fetch for the first token and at most one refetch in jose's 30 s cooldown.
    expect(provider.jwksRequests).toBeLessThanOrEqual(2);
    expect(await status(a.app, userA)).toBe(200);
  });

  it("rejects a huge body without reading it", async () => {
    const res = await postLogoutToken(b.app, `logout_token=${"a".repeat(200_000)}`);
    expect(res.status).toBe(400);
    expect((await appGet(b.app, new CookieJar(), "/healthz")).status).toBe(200);
  });

  it("rejects a logout token sent as JSON", async () => {
    const token = await signLogout(logoutClaims());
    const res = await request(b.app.callback())
      .post("/oidc/rogue/backchannel-logout")
      .send({ logout_token: token });
    expect(res.status).toBe(400);
    expect(await status(a.app, userA)).toBe(200);
  });
});

describe("back-channel logout between connections", () => {
  it("does not end a session of another connection with the same sid", async () => {
    const prefix = randomPrefix();
    const log = captureLog();
    const connections = ["north", "south"].map((id) => ({
      id,
      type: "oidc" as const,
      issuer: provider.issuer,
      clientId: CLIENT_ID,
      clientSecret: "attack-secret",
    }));
    const { app, signIn } = await startService(connections, {
      clock,
      logger: log.logger,
      store: new RedisStore({ url: MAIN_REDIS_URL, prefix }),
    });
    const instance = { app, log, close: () => signIn.close() };
    try {
      const atSouth = await signInWith(instance, "user-s", "shared-sid", "south");
      const token = await signLogout(logoutClaims({ sid: "shared-sid", sub: undefined }));
      expect((await postLogoutToken(app, { logout_token: token }, "north")).status).toBe(200);
      expect(await status(app, atSouth)).toBe(200);
    } finally {
      await instance.close();
      await deleteKeysWithPrefix(MAIN_REDIS_URL, prefix);
    }
  });
});

describe("POST /logout", () => {
  let instance: Instance;
  let prefix: string;

  beforeEach(async () => {
    prefix = randomPrefix();
    instance = await startInstance(prefix);
  });

  afterEach(async () => {
    await instance.close();
    await deleteKeysWithPrefix(MAIN_REDIS_URL, prefix);
  });

  const crossSite: Array<[string, Record<string, string>]> = [
    ["Sec-Fetch-Site cross-site", { "Sec-Fetch-Site": "cross-site" }],
    ["Sec-Fetch-Site same-site", { "Sec-Fetch-Site": "same-site" }],
    ["a foreign Origin", { Origin: "https://evil.example.test" }],
    ["Origin null", { Origin: "null" }],
    ["a look-alike Origin", { Origin: `${BASE}.evil.example.test` }],
  ];

  it.each(crossSite)("rejects ?idp=1 with %s", async (_name, headers) => {
    const jar = await signInWith(instance, "user-a", "sid-a");
    const res = await request(instance.app.callback())
      .post("/logout?idp=1")
      .set("Cookie", jar.header())
      .set(headers)
      .set("Accept", "application/json");
    expect(res.body.error).toBe("BAD_REQUEST");
    expect(await status(instance.app, jar)).toBe(200);
  });

  const returnTos = [
    "//evil.example.test",
    "/\\evil.example.test",
    "/%2F%2Fevil.example.test",
    "/%5Cevil.example.test",
    "https://evil.example.test",
    "/\t/evil.example.test",
    "@evil.example.test",
  ];

  it.each(returnTos)("keeps the redirect local for returnTo %j", async (returnTo) => {
    const res = await request(instance.app.callback())
      .post(`/logout?returnTo=${encodeURIComponent(returnTo)}`)
      .set("Sec-Fetch-Site", "same-origin");
    expect(res.status).toBe(303);
    const location = new URL(res.headers.location!);
    expect(location.origin).toBe(BASE);
    expect(res.headers.location).toBe(`${BASE}/`);
  });
});

describe("SAML LogoutRequest by HTTP-Redirect", () => {
  let harness: SamlHarness;

  beforeEach(async () => {
    harness = await SamlHarness.start();
  });

  afterEach(async () => {
    await harness.close();
  });

  function now(): string {
    return samlInstant(harness.clock.now());
  }

  /** Signs `xml` with the IdP key using `sigAlg`, the way the HTTP-Redirect binding signs. */
  async function signedWith(xml: string, sigAlg: string, hash: string): Promise<string> {
    const unsigned = buildRedirectUrl(
      `https://signin.example.org${SLO_PATH}`,
      "SAMLRequest",
      xml,
      {},
    );
    const query = `${new URL(unsigned).search.slice(1)}&SigAlg=${encodeURIComponent(sigAlg)}`;
    const { createSign } = await import("node:crypto");
    const signature = createSign(hash).update(query).sign(IDP_KEY.key, "base64");
    return `${SLO_PATH}?${query}&Signature=${encodeURIComponent(signature)}`;
  }

  async function expectKept(
    path: string,
    browser: Awaited<ReturnType<typeof samlSignIn>>["browser"],
  ) {
    const res = await harness.http().get(path).set("Accept", "application/json");
    expect(String(res.body.error)).toMatch(/^SAML_LOGOUT_(INVALID|REPLAYED)$/);
    expect((await harness.session(browser)).status).toBe(200);
  }

  it("rejects a request without Signature", async () => {
    const { browser } = await samlSignIn(harness, harness);
    const signed = signedRedirectLogout(idpLogoutRequestXml("_nosig", ALICE.objectId, now()));
    await expectKept(signed.replace(/&Signature=[^&]*/, ""), browser);
  });

  it("rejects SHA-1 when allowSha1 is off", async () => {
    const { browser } = await samlSignIn(harness, harness);
    const xml = idpLogoutRequestXml("_sha1", ALICE.objectId, now());
    await expectKept(await signedWith(xml, SIGNATURE_ALGORITHMS.rsaSha1, "RSA-SHA1"), browser);
  });

  it("rejects a duplicated SAMLRequest", async () => {
    const { browser } = await samlSignIn(harness, harness);
    const signed = signedRedirectLogout(idpLogoutRequestXml("_dup", ALICE.objectId, now()));
    const other = signedRedirectLogout(idpLogoutRequestXml("_dup2", "someone-else", now()));
    const otherRequest = /SAMLRequest=[^&]*/.exec(other)![0];
    await expectKept(`${signed}&${otherRequest}`, browser);
  });

  it("rejects a NameID swapped under a signature of another request", async () => {
    const { browser } = await samlSignIn(harness, harness);
    const forSomeoneElse = signedRedirectLogout(
      idpLogoutRequestXml("_swap", "someone-else", now()),
    );
    const forAlice = buildRedirectUrl(
      `https://signin.example.org${SLO_PATH}`,
      "SAMLRequest",
      idpLogoutRequestXml("_swap", ALICE.objectId, now()),
      {},
    );
    const aliceRequest = /SAMLRequest=[^&]*/.exec(forAlice)![0];
    await expectKept(forSomeoneElse.replace(/SAMLRequest=[^&]*/, aliceRequest), browser);
  });

  it("accepts reordered parameters only with the same signed text", async () => {
    const { browser } = await samlSignIn(harness, harness);
    const signed = signedRedirectLogout(idpLogoutRequestXml("_order", "someone-else", now()));
    const [path, query] = signed.split("?");
    const reordered = `${path}?${query!.split("&").reverse().join("&")}`;
    const res = await harness.http().get(reordered);
    expect(res.status).toBe(302);
    expect((await harness.session(browser)).status).toBe(200);
  });

  it("rejects a replayed request", async () => {
    const { browser } = await samlSignIn(harness, harness);
    const signed = signedRedirectLogout(idpLogoutRequestXml("_replay", "someone-else", now()));
    expect((await harness.http().get(signed)).status).toBe(302);
    const xml = idpLogoutRequestXml("_replay", ALICE.objectId, now());
    await expectKept(signedRedirectLogout(xml), browser);
  });

  it("rejects an unsigned POST request naming Alice", async () => {
    const { browser } = await samlSignIn(harness, harness);
    const xml = idpLogoutRequestXml("_unsigned", ALICE.objectId, now());
    const res = await harness
      .http()
      .post(SLO_PATH)
      .type("form")
      .set("Accept", "application/json")
      .send({ SAMLRequest: Buffer.from(xml).toString("base64") });
    expect(res.body.error).toBe("SAML_LOGOUT_INVALID");
    expect((await harness.session(browser)).status).toBe(200);
  });
});
