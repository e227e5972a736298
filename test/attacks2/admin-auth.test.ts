// Attacks on the admin traces page and the /auth fast path: missing or misplaced admin tokens,
// script in trace values, and forged, foreign, ended or expired session cookies.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createHmac } from "node:crypto";
import type Koa from "koa";
import request from "supertest";
import { MemorySink } from "../../src/audit/audit.js";
import { parseConfig } from "../../src/config/load.js";
import { createApp, type SignIn } from "../../src/http/create-sign-in.js";
import { FakeClock, captureLog } from "../session/helpers.js";
import { CookieJar, TEST_SESSION_KEY, appGet, appPath } from "../support/oidc-helpers.js";
import { RogueProvider } from "../support/oidc-rogue-provider.js";

const BASE = "http://127.0.0.1:8080";
const CLIENT_ID = "attack-admin-client";
const ADMIN_TOKEN = "admin-token-0123456789abcdef0123456789abcdef";
const OTHER_KEY = "another-deployment-key-0123456789abcdef0123";
const SCRIPT = "<script>alert(1)</script>";

const clock = new FakeClock();
let provider: RogueProvider;

beforeAll(async () => {
  provider = await new RogueProvider({ clientId: CLIENT_ID, now: () => clock.now() }).start();
});

afterAll(async () => {
  await provider.stop();
});

async function service(
  admin: { token: string } | undefined,
): Promise<{ app: Koa; signIn: SignIn }> {
  const config = parseConfig({
    baseUrl: BASE,
    logLevel: "silent",
    session: { keys: [TEST_SESSION_KEY], maxAge: "1h", idleTimeout: "30m" },
    ...(admin ? { admin } : {}),
    connections: [
      {
        id: "traced",
        type: "oidc",
        issuer: provider.issuer,
        clientId: CLIENT_ID,
        clientSecret: "attack-secret",
        claims: "generic",
        trace: true,
      },
    ],
  });
  return createApp(config, { clock, auditSink: new MemorySink(), logger: captureLog().logger });
}

async function signInThrough(app: Koa): Promise<CookieJar> {
  const jar = new CookieJar();
  const login = await appGet(app, jar, "/oidc/traced/login", false);
  const back = await fetch(login.headers.location!, { redirect: "manual" });
  const callback = await appGet(app, jar, appPath(back.headers.get("location")!, BASE));
  expect(callback.status).toBe(303);
  return jar;
}

describe("admin traces page", () => {
  it("answers 404 when no admin token is configured", async () => {
    const { app, signIn } = await service(undefined);
    const res = await request(app.callback())
      .get("/admin/traces")
      .set("Authorization", `Bearer ${ADMIN_TOKEN}`)
      .set("Accept", "application/json");
    expect(res.status).toBe(404);
    expect(res.body.error).toBe("ADMIN_NOT_CONFIGURED");
    await signIn.close();
  });

  const wrong: Array<[string, (req: request.Test) => request.Test, string]> = [
    ["no header", (req) => req, "/admin/traces"],
    ["the token in the query string", (req) => req, `/admin/traces?token=${ADMIN_TOKEN}`],
    [
      "the token as Basic",
      (req) => req.set("Authorization", `Basic ${ADMIN_TOKEN}`),
      "/admin/traces",
    ],
    [
      "a prefix of the token",
      (req) => req.set("Authorization", `Bearer ${ADMIN_TOKEN.slice(0, -1)}`),
      "/admin/traces",
    ],
    [
      "the token plus a suffix",
      (req) => req.set("Authorization", `Bearer ${ADMIN_TOKEN}x`),
      "/admin/traces",
    ],
    ["an empty bearer", (req) => req.set("Authorization", "Bearer "), "/admin/traces"],
    [
      "the token as a cookie",
      (req) => req.set("Cookie", `token=${ADMIN_TOKEN}`),
      "/admin/traces/traced",
    ],
  ];

  it.each(wrong)("answers 401 for %s", async (_name, decorate, path) => {
    const { app, signIn } = await service({ token: ADMIN_TOKEN });
    const res = await decorate(request(app.callback()).get(path).set("Accept", "application/json"));
    expect(res.status).toBe(401);
    expect(res.body.error).toBe("ADMIN_UNAUTHORIZED");
    expect(res.body.traces).toBeUndefined();
    await signIn.close();
  });

  it("escapes script in claim names and values", async () => {
    const { app, signIn } = await service({ token: ADMIN_TOKEN });
    provider.mutateClaims = (claims) => {
      claims.name = SCRIPT;
      claims.department = SCRIPT;
      claims[SCRIPT] = "x";
      claims.groups = [SCRIPT, `"><img src=x onerror=alert(1)>`];
    };
    try {
      await signInThrough(app);
    } finally {
      provider.mutateClaims = () => {};
    }
    const res = await request(app.callback())
      .get("/admin/traces/traced")
      .set("Authorization", `Bearer ${ADMIN_TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain("&lt;script&gt;");
    expect(res.text).not.toContain("<script");
    expect(res.text).not.toContain("<img");
    expect(res.headers["content-security-policy"]).toContain("default-src 'none'");
    await signIn.close();
  });

  it("answers 404 for an unknown connection", async () => {
    const { app, signIn } = await service({ token: ADMIN_TOKEN });
    const res = await request(app.callback())
      .get(`/admin/traces/${encodeURIComponent(SCRIPT)}`)
      .set("Authorization", `Bearer ${ADMIN_TOKEN}`);
    expect(res.status).toBe(404);
    expect(res.text).not.toContain("<script");
    await signIn.close();
  });
});

/** Returns a cookie pair signed the way the `cookies` package signs with `key`. */
function signedCookie(name: string, value: string, key: string): string {
  const signature = createHmac("sha1", key)
    .update(`${name}=${value}`)
    .digest("base64")
    .replace(/\/|\+|=/g, (c) => ({ "/": "_", "+": "-", "=": "" })[c] ?? c);
  return `${name}=${value}; ${name}.sig=${signature}`;
}

function sessionKeyOf(jar: CookieJar): string {
  return /fs_session=([^;]+)/.exec(jar.header())?.[1] ?? "";
}

describe("/auth fast path", () => {
  async function auth(app: Koa, cookie: string) {
    return request(app.callback()).get("/auth").set("Cookie", cookie);
  }

  it("accepts the real cookie as a baseline", async () => {
    const { app, signIn } = await service(undefined);
    const jar = await signInThrough(app);
    expect((await auth(app, jar.header())).status).toBe(200);
    await signIn.close();
  });

  it("rejects a session key with a forged signature", async () => {
    const { app, signIn } = await service(undefined);
    const jar = await signInThrough(app);
    const key = sessionKeyOf(jar);
    expect(
      (await auth(app, `fs_session=${key}; fs_session.sig=AAAAAAAAAAAAAAAAAAAAAAAAAAA`)).status,
    ).toBe(401);
    expect((await auth(app, `fs_session=${key}`)).status).toBe(401);
    await signIn.close();
  });

  it("rejects a cookie signed with another deployment's key", async () => {
    const { app, signIn } = await service(undefined);
    const jar = await signInThrough(app);
    const foreign = signedCookie("fs_session", sessionKeyOf(jar), OTHER_KEY);
    expect((await auth(app, foreign)).status).toBe(401);
    // The same construction with our key passes, so the helper signs like the service.
    expect(
      (await auth(app, signedCookie("fs_session", sessionKeyOf(jar), TEST_SESSION_KEY))).status,
    ).toBe(200);
    await signIn.close();
  });

  it("rejects the transaction cookie's value as a session cookie", async () => {
    const { app, signIn } = await service(undefined);
    const jar = new CookieJar();
    await appGet(app, jar, "/oidc/traced/login", false);
    const binding = /fs_oidc_tx=([^;]+)/.exec(jar.header())?.[1] ?? "";
    const sig = /fs_oidc_tx\.sig=([^;]+)/.exec(jar.header())?.[1] ?? "";
    expect(binding).not.toBe("");
    expect((await auth(app, `fs_session=${binding}; fs_session.sig=${sig}`)).status).toBe(401);
    await signIn.close();
  });

  it("answers 401 after logout on both paths", async () => {
    const { app, signIn } = await service(undefined);
    const jar = await signInThrough(app);
    const cookie = jar.header();
    await request(app.callback())
      .post("/logout")
      .set("Cookie", cookie)
      .set("Sec-Fetch-Site", "same-origin");
    expect((await auth(app, cookie)).status).toBe(401);
    expect((await request(app.callback()).get("/session").set("Cookie", cookie)).status).toBe(401);
    await signIn.close();
  });

  it("answers 401 after the idle timeout and after maxAge", async () => {
    const { app, signIn } = await service(undefined);
    const idle = await signInThrough(app);
    clock.advance(31 * 60_000);
    expect((await auth(app, idle.header())).status).toBe(401);
    expect(
      (await request(app.callback()).get("/session").set("Cookie", idle.header())).status,
    ).toBe(401);

    const old = await signInThrough(app);
    // Requests every 25 minutes keep the idle timer fresh, but the 1 h maxAge still ends it.
    for (let step = 0; step < 2; step += 1) {
      clock.advance(25 * 60_000);
      expect((await auth(app, old.header())).status).toBe(200);
    }
    clock.advance(11 * 60_000);
    expect((await auth(app, old.header())).status).toBe(401);
    expect((await request(app.callback()).get("/session").set("Cookie", old.header())).status).toBe(
      401,
    );
    await signIn.close();
  });
});
