import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { SignJWT, UnsecuredJWT, generateKeyPair } from "jose";
import type Koa from "koa";
import request from "supertest";
import { MemorySink } from "../../src/audit/audit.js";
import { RedisStore } from "../../src/session/redis-store.js";
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

const BASE = "http://127.0.0.1:8080";
const CLIENT_ID = "11111111-2222-4333-8444-555555555555";
const EVENT = "http://schemas.openid.net/event/backchannel-logout";
const SUB = "pairwise-subject-1";
const BACKCHANNEL_PATH = "/oidc/rogue/backchannel-logout";

const clock = new FakeClock();
let rogue: RogueProvider;

interface Instance {
  app: Koa;
  log: CapturedLog;
  audit: MemorySink;
  close(): Promise<void>;
}

let prefix: string;
let a: Instance;
let b: Instance;

beforeAll(async () => {
  rogue = await new RogueProvider({ clientId: CLIENT_ID, now: () => clock.now() }).start();
});

afterAll(async () => {
  await rogue.stop();
});

async function startInstance(): Promise<Instance> {
  const log = captureLog();
  const audit = new MemorySink();
  const { app, signIn } = await startService(
    [
      {
        id: "rogue",
        type: "oidc",
        issuer: rogue.issuer,
        clientId: CLIENT_ID,
        clientSecret: "rogue-secret",
        claims: "entra",
      },
    ],
    {
      clock,
      logger: log.logger,
      auditSink: audit,
      store: new RedisStore({ url: MAIN_REDIS_URL, prefix }),
    },
  );
  return { app, log, audit, close: () => signIn.close() };
}

beforeEach(async () => {
  prefix = randomPrefix();
  a = await startInstance();
  b = await startInstance();
});

afterEach(async () => {
  rogue.mutateClaims = () => {};
  await a.close();
  await b.close();
  await deleteKeysWithPrefix(MAIN_REDIS_URL, prefix);
});

/** Signs in at `instance` as a new browser whose ID token carries `sid`. */
async function signIn(instance: Instance, sid: string, sub = SUB): Promise<CookieJar> {
  rogue.mutateClaims = (claims) => {
    claims.sid = sid;
    claims.sub = sub;
  };
  const jar = new CookieJar();
  const login = await appGet(instance.app, jar, "/oidc/rogue/login", false);
  expect(login.status).toBe(302);
  const response = await fetch(login.headers.location!, { redirect: "manual" });
  const callback = await appGet(
    instance.app,
    jar,
    appPath(response.headers.get("location")!, BASE),
  );
  expect(callback.status).toBe(303);
  expect((await appGet(instance.app, jar, "/session")).status).toBe(200);
  return jar;
}

function validClaims(): Record<string, unknown> {
  const nowSeconds = Math.floor(clock.now() / 1000);
  return {
    iss: rogue.issuer,
    aud: CLIENT_ID,
    iat: nowSeconds,
    exp: nowSeconds + 120,
    jti: randomUUID(),
    events: { [EVENT]: {} },
    sub: SUB,
    sid: "sid-1",
  };
}

async function logoutToken(
  claims: Record<string, unknown> = validClaims(),
  typ: string | undefined = "logout+jwt",
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid: rogue.kid, ...(typ ? { typ } : {}) })
    .sign(rogue.signingKey);
}

function post(instance: Instance, fields: Record<string, string>) {
  return request(instance.app.callback()).post(BACKCHANNEL_PATH).type("form").send(fields);
}

async function sessionStatus(instance: Instance, jar: CookieJar): Promise<number> {
  return (await appGet(instance.app, jar, "/session")).status;
}

describe("back-channel logout across instances", () => {
  it("ends at A the session of the sid that B received", async () => {
    const jar = await signIn(a, "sid-1");
    const res = await post(b, { logout_token: await logoutToken() });
    expect(res.status).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(await sessionStatus(a, jar)).toBe(401);
    expect(await sessionStatus(b, jar)).toBe(401);
    const events = b.audit.events().filter((event) => event.event === "logout");
    expect(events).toEqual([expect.objectContaining({ kind: "backchannel", connection: "rogue" })]);
  });

  it("ends only the session of that sid", async () => {
    const first = await signIn(a, "sid-1");
    const second = await signIn(b, "sid-2");
    expect((await post(b, { logout_token: await logoutToken() })).status).toBe(200);
    expect(await sessionStatus(a, first)).toBe(401);
    expect(await sessionStatus(a, second)).toBe(200);
  });

  it("ends every session of the sub without sid", async () => {
    const first = await signIn(a, "sid-1");
    const second = await signIn(b, "sid-2");
    const other = await signIn(a, "sid-3", "another-subject");
    const claims = validClaims();
    delete claims.sid;
    expect((await post(a, { logout_token: await logoutToken(claims) })).status).toBe(200);
    expect(await sessionStatus(b, first)).toBe(401);
    expect(await sessionStatus(b, second)).toBe(401);
    expect(await sessionStatus(b, other)).toBe(200);
  });

  it("keeps a session whose sid matches but sub differs", async () => {
    const jar = await signIn(a, "sid-1", "another-subject");
    expect((await post(b, { logout_token: await logoutToken() })).status).toBe(200);
    expect(await sessionStatus(a, jar)).toBe(200);
  });

  it("accepts typ JWT and a token without typ", async () => {
    const first = await signIn(a, "sid-1");
    expect((await post(b, { logout_token: await logoutToken(validClaims(), "JWT") })).status).toBe(
      200,
    );
    expect(await sessionStatus(a, first)).toBe(401);
    const second = await signIn(a, "sid-1");
    expect(
      (await post(b, { logout_token: await logoutToken(validClaims(), undefined) })).status,
    ).toBe(200);
    expect(await sessionStatus(a, second)).toBe(401);
  });

  it("rejects a replayed jti at the other instance", async () => {
    await signIn(a, "sid-1");
    const token = await logoutToken();
    expect((await post(a, { logout_token: token })).status).toBe(200);
    const again = await signIn(a, "sid-1");
    const replay = await post(b, { logout_token: token });
    expect(replay.status).toBe(400);
    expect(replay.body).toEqual({ error: "invalid_request" });
    expect(await sessionStatus(a, again)).toBe(200);
    const record = b.log.records().find((line) => line.msg === "Back-channel logout rejected");
    expect(record?.code).toBe("OIDC_LOGOUT_TOKEN_INVALID");
    expect(String(record?.reason)).toContain("replay");
  });
});

type Mutation = (claims: Record<string, unknown>) => void;

const REJECTED_CLAIMS: Array<[string, Mutation, string]> = [
  ["with a nonce", (claims) => (claims.nonce = "n-1"), "nonce"],
  ["without events", (claims) => delete claims.events, "events"],
  ["with a non-object event value", (claims) => (claims.events = { [EVENT]: "yes" }), "events"],
  ["with another event", (claims) => (claims.events = { "urn:other": {} }), "events"],
  ["with a wrong aud", (claims) => (claims.aud = "another-client"), "aud"],
  ["with a wrong iss", (claims) => (claims.iss = "https://evil.example"), "iss"],
  ["that expired", (claims) => (claims.exp = Math.floor(clock.now() / 1000) - 600), "exp"],
  [
    "issued too long ago",
    (claims) => {
      claims.iat = Math.floor(clock.now() / 1000) - 3_600;
      delete claims.exp;
    },
    "iat",
  ],
  [
    "issued in the future",
    (claims) => (claims.iat = Math.floor(clock.now() / 1000) + 3_600),
    "iat",
  ],
  [
    "without sub and sid",
    (claims) => {
      delete claims.sub;
      delete claims.sid;
    },
    "neither sub nor sid",
  ],
  ["without jti", (claims) => delete claims.jti, "jti"],
  ["without iat", (claims) => delete claims.iat, "iat"],
];

describe("back-channel logout token rules", () => {
  let jar: CookieJar;
  beforeEach(async () => {
    jar = await signIn(a, "sid-1");
  });

  async function expectRejected(fields: Record<string, string>, reason: string) {
    const res = await post(b, fields);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_request" });
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(await sessionStatus(a, jar)).toBe(200);
    const record = b.log.records().find((line) => line.msg === "Back-channel logout rejected");
    expect(record?.code).toBe("OIDC_LOGOUT_TOKEN_INVALID");
    expect(String(record?.reason)).toContain(reason);
    expect(b.log.text()).not.toContain(fields.logout_token ?? "no token sent");
  }

  it.each(REJECTED_CLAIMS)("rejects a token %s", async (_label, mutate, reason) => {
    const claims = validClaims();
    mutate(claims);
    await expectRejected({ logout_token: await logoutToken(claims) }, reason);
  });

  it("rejects an unsigned token", async () => {
    const token = new UnsecuredJWT(validClaims()).encode();
    await expectRejected({ logout_token: token }, "alg");
  });

  it("rejects a token signed with the client secret (HS256)", async () => {
    const token = await new SignJWT(validClaims())
      .setProtectedHeader({ alg: "HS256", typ: "logout+jwt" })
      .sign(new TextEncoder().encode("rogue-secret"));
    await expectRejected({ logout_token: token }, "alg");
  });

  it("rejects a token signed by a key the provider does not publish", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const token = await new SignJWT(validClaims())
      .setProtectedHeader({ alg: "RS256", kid: rogue.kid, typ: "logout+jwt" })
      .sign(privateKey);
    await expectRejected({ logout_token: token }, "signature");
  });

  it("rejects a token of another typ", async () => {
    await expectRejected({ logout_token: await logoutToken(validClaims(), "at+jwt") }, "typ");
  });

  it("rejects a request without logout_token", async () => {
    await expectRejected({ token: "x" }, "logout_token");
  });

  it("rejects text that is not a JWT", async () => {
    await expectRejected({ logout_token: "not-a-jwt" }, "JWS");
  });
});
