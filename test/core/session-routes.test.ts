import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import Koa from "koa";
import request from "supertest";
import { MemorySink } from "../../src/audit/audit.js";
import { parseConfig } from "../../src/config/load.js";
import { createSignIn, type SignIn } from "../../src/http/create-sign-in.js";
import type { Identity } from "../../src/identity/identity.js";
import { createLogger } from "../../src/logger.js";
import { MemoryStore } from "../../src/session/memory-store.js";
import { startSession } from "../../src/session/session.js";
import {
  FakeClock,
  SequenceIds,
  TEST_SESSION_KEY,
  cookieHeader,
  testIdentity,
} from "../support/fakes.js";

const MINUTE = 60_000;

interface Harness {
  app: Koa;
  signIn: SignIn;
  clock: FakeClock;
  store: MemoryStore;
  audit: MemorySink;
}

/**
 * Embeds the service in a host app with a test-only route that starts a session, the way a
 * protocol module does after it validated a sign-in.
 */
async function createHarness(
  options: { idpLimitMs?: number; baseUrl?: string } = {},
): Promise<Harness> {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const config = parseConfig({
    baseUrl: options.baseUrl ?? "http://localhost:3000",
    session: { keys: [TEST_SESSION_KEY], maxAge: "1h", idleTimeout: "10m" },
  });
  const audit = new MemorySink();
  const signIn = await createSignIn(config, {
    auditSink: audit,
    clock,
    ids: new SequenceIds("sess"),
    store,
    logger: createLogger("silent"),
  });
  const app = new Koa();
  signIn.mount(app);
  app.use(async (ctx, next) => {
    if (ctx.path === "/test/sign-in" && ctx.method === "POST") {
      await startSession(ctx, clock, signIn.services.lifetime, {
        identity: testIdentity({
          name: String(ctx.query.name ?? "Alice Nguyen"),
          username: String(ctx.query.username ?? "alice@example.org"),
        }),
        ...(options.idpLimitMs !== undefined
          ? { idpSessionNotOnOrAfter: clock.now() + options.idpLimitMs }
          : {}),
        tokens: { accessToken: "secret-access-token", refreshToken: "secret-refresh-token" },
      });
      ctx.status = 204;
      return;
    }
    if (ctx.path === "/host/whoami") {
      ctx.body = { user: (ctx.state.identity as Identity | undefined)?.id ?? null };
      return;
    }
    await next();
  });
  return { app, signIn, clock, store, audit };
}

async function signInCookie(harness: Harness, query = ""): Promise<string> {
  const response = await request(harness.app.callback()).post(`/test/sign-in${query}`);
  expect(response.status).toBe(204);
  const cookie = cookieHeader(response.headers["set-cookie"]);
  expect(cookie).toContain("fs_session=");
  return cookie;
}

describe("session routes", () => {
  let harness: Harness;

  beforeEach(async () => {
    harness = await createHarness();
  });

  afterEach(async () => {
    await harness.signIn.close();
  });

  it("GET /session without a cookie is 401 JSON", async () => {
    const response = await request(harness.app.callback()).get("/session");
    expect(response.status).toBe(401);
    expect(response.body.error).toBe("NOT_SIGNED_IN");
  });

  it("GET /session returns identity and expiry", async () => {
    const cookie = await signInCookie(harness);
    const response = await request(harness.app.callback()).get("/session").set("Cookie", cookie);
    expect(response.status).toBe(200);
    expect(response.body.identity.email).toBe("alice@example.org");
    expect(response.body.identity.groups).toEqual(["g-cardiology", "g-staff"]);
    expect(response.body.expiresAt).toBe(new Date(harness.clock.now() + 60 * MINUTE).toISOString());
    expect(response.headers["cache-control"]).toBe("no-store");
  });

  it("tokens never appear in /session or /auth", async () => {
    const cookie = await signInCookie(harness);
    const session = await request(harness.app.callback()).get("/session").set("Cookie", cookie);
    const auth = await request(harness.app.callback()).get("/auth").set("Cookie", cookie);
    const everything = JSON.stringify(session.body) + JSON.stringify(auth.headers) + auth.text;
    expect(everything).not.toContain("secret-access-token");
    expect(everything).not.toContain("secret-refresh-token");
  });

  it("host middleware sees ctx.state.identity", async () => {
    const cookie = await signInCookie(harness);
    const response = await request(harness.app.callback())
      .get("/host/whoami")
      .set("Cookie", cookie);
    expect(response.body.user).toBe(testIdentity().id);
    const anonymous = await request(harness.app.callback()).get("/host/whoami");
    expect(anonymous.body.user).toBeNull();
  });

  it("GET /auth sets forward-auth headers", async () => {
    const cookie = await signInCookie(harness);
    const response = await request(harness.app.callback()).get("/auth").set("Cookie", cookie);
    expect(response.status).toBe(200);
    expect(response.headers["x-auth-request-user"]).toBe(testIdentity().id);
    expect(response.headers["x-auth-request-email"]).toBe("alice@example.org");
    expect(response.headers["x-auth-request-groups"]).toBe("g-cardiology,g-staff");
    expect(response.headers["x-auth-request-connection"]).toBe("mercy-saml");
  });

  it("GET /auth without a session is 401", async () => {
    const response = await request(harness.app.callback()).get("/auth");
    expect(response.status).toBe(401);
    expect(response.headers["x-auth-request-user"]).toBeUndefined();
  });

  it("GET /auth percent-encodes unsafe header values", async () => {
    const cookie = await signInCookie(harness, "?username=Jos%C3%A9%0D%0AX-Evil%3A%201");
    const response = await request(harness.app.callback()).get("/auth").set("Cookie", cookie);
    expect(response.status).toBe(200);
    expect(response.headers["x-auth-request-preferred-username"]).toBe(
      "Jos%C3%A9%0D%0AX-Evil%3A%201",
    );
    expect(response.headers["x-evil"]).toBeUndefined();
  });

  it("forged session cookie is ignored", async () => {
    const cookie = await signInCookie(harness);
    const forged = cookie.replace(/fs_session=[^;]+/, "fs_session=sess00000099abcdefghijklmnop");
    const response = await request(harness.app.callback()).get("/session").set("Cookie", forged);
    expect(response.status).toBe(401);
  });

  it("idle timeout ends the session", async () => {
    const cookie = await signInCookie(harness);
    harness.clock.advance(10 * MINUTE);
    const response = await request(harness.app.callback()).get("/session").set("Cookie", cookie);
    expect(response.status).toBe(401);
  });

  it("activity keeps the session until maxAge", async () => {
    const cookie = await signInCookie(harness);
    for (let elapsed = 0; elapsed < 55 * MINUTE; elapsed += 5 * MINUTE) {
      harness.clock.advance(5 * MINUTE);
      const response = await request(harness.app.callback()).get("/auth").set("Cookie", cookie);
      expect(response.status).toBe(200);
    }
    harness.clock.advance(5 * MINUTE);
    const expired = await request(harness.app.callback()).get("/auth").set("Cookie", cookie);
    expect(expired.status).toBe(401);
  });

  it("IdP session limit caps maxAge", async () => {
    await harness.signIn.close();
    harness = await createHarness({ idpLimitMs: 7 * MINUTE });
    const cookie = await signInCookie(harness);
    harness.clock.advance(6 * MINUTE);
    expect((await request(harness.app.callback()).get("/auth").set("Cookie", cookie)).status).toBe(
      200,
    );
    harness.clock.advance(1 * MINUTE);
    expect((await request(harness.app.callback()).get("/auth").set("Cookie", cookie)).status).toBe(
      401,
    );
  });

  it("sign-in rotates a planted session key", async () => {
    const planted = "fs_session=sess99999999abcdefghijklmnop";
    const response = await request(harness.app.callback())
      .post("/test/sign-in")
      .set("Cookie", planted);
    const issued = cookieHeader(response.headers["set-cookie"]);
    expect(issued).toMatch(/fs_session=/);
    expect(issued).not.toContain("sess99999999abcdefghijklmnop");
  });

  it("session cookie is HttpOnly, SameSite=Lax, not Secure on http", async () => {
    const response = await request(harness.app.callback()).post("/test/sign-in");
    const setCookie = (response.headers["set-cookie"] as unknown as string[]).find((line) =>
      line.startsWith("fs_session="),
    );
    expect(setCookie).toBeDefined();
    expect(setCookie).toMatch(/httponly/i);
    expect(setCookie).toMatch(/samesite=lax/i);
    expect(setCookie).not.toMatch(/;\s*secure/i);
  });

  it("session cookie is Secure when baseUrl is https", async () => {
    await harness.signIn.close();
    harness = await createHarness({ baseUrl: "https://signin.example.org" });
    const response = await request(harness.app.callback())
      .post("/test/sign-in")
      .set("X-Forwarded-Proto", "https");
    const setCookie = (response.headers["set-cookie"] as unknown as string[]).find((line) =>
      line.startsWith("fs_session="),
    );
    expect(setCookie).toMatch(/;\s*secure/i);
  });

  it("POST /logout ends the session", async () => {
    const cookie = await signInCookie(harness);
    const logout = await request(harness.app.callback()).post("/logout").set("Cookie", cookie);
    expect(logout.status).toBe(303);
    expect(logout.headers.location).toBe("http://localhost:3000/");
    const response = await request(harness.app.callback()).get("/session").set("Cookie", cookie);
    expect(response.status).toBe(401);
    const events = harness.audit.events();
    expect(events).toHaveLength(1);
    expect(events[0]?.event).toBe("logout");
    expect(events[0]?.user).toBe(testIdentity().id);
    expect(events[0]?.kind).toBe("local");
  });

  it("POST /logout from another site is rejected", async () => {
    const cookie = await signInCookie(harness);
    const logout = await request(harness.app.callback())
      .post("/logout")
      .set("Cookie", cookie)
      .set("Origin", "https://evil.example")
      .set("Accept", "application/json");
    expect(logout.status).toBe(400);
    expect(logout.body.error).toBe("BAD_REQUEST");
    const response = await request(harness.app.callback()).get("/session").set("Cookie", cookie);
    expect(response.status).toBe(200);
  });

  it("POST /logout ignores an off-site returnTo", async () => {
    const logout = await request(harness.app.callback()).post("/logout?returnTo=//evil.example/x");
    expect(logout.headers.location).toBe("http://localhost:3000/");
  });

  it("sign-in page lists no connections and shows the user when signed in", async () => {
    const anonymous = await request(harness.app.callback()).get("/");
    expect(anonymous.status).toBe(200);
    expect(anonymous.text).toContain("No connections are configured");
    const cookie = await signInCookie(harness, "?name=%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    const page = await request(harness.app.callback()).get("/").set("Cookie", cookie);
    expect(page.text).toContain("Signed in");
    expect(page.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(page.text).not.toContain("<script>alert(1)</script>");
  });

  it("healthz and readyz answer without a session", async () => {
    const health = await request(harness.app.callback()).get("/healthz");
    expect(health.status).toBe(200);
    const ready = await request(harness.app.callback()).get("/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe("ready");
  });

  it("readyz is 503 when the store is down", async () => {
    harness.store.ping = async () => {
      throw new Error("connection refused");
    };
    const ready = await request(harness.app.callback()).get("/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body.problems[0].component).toBe("store");
  });

  it("store failure answers 503 STORE_UNAVAILABLE", async () => {
    const cookie = await signInCookie(harness);
    const { storeUnavailable } = await import("../../src/session/store.js");
    harness.store.get = async () => {
      throw storeUnavailable(new Error("connection refused"));
    };
    const response = await request(harness.app.callback())
      .get("/session")
      .set("Cookie", cookie)
      .set("Accept", "application/json");
    expect(response.status).toBe(503);
    expect(response.body.error).toBe("STORE_UNAVAILABLE");
  });

  it("store failure on /auth answers 503", async () => {
    const cookie = await signInCookie(harness);
    const { storeUnavailable } = await import("../../src/session/store.js");
    harness.store.get = async () => {
      throw storeUnavailable(new Error("connection refused"));
    };
    const response = await request(harness.app.callback())
      .get("/auth")
      .set("Cookie", cookie)
      .set("Accept", "application/json");
    expect(response.status).toBe(503);
    expect(response.headers["x-auth-request-user"]).toBeUndefined();
  });

  it("/auth after logout elsewhere is 401", async () => {
    const cookie = await signInCookie(harness);
    expect((await request(harness.app.callback()).get("/auth").set("Cookie", cookie)).status).toBe(
      200,
    );
    const sessionKeys = [...(await harness.store.keys())].filter((key) => key.startsWith("sess:"));
    expect(sessionKeys).toHaveLength(1);
    await harness.store.delete(sessionKeys[0] as string);
    expect((await request(harness.app.callback()).get("/auth").set("Cookie", cookie)).status).toBe(
      401,
    );
  });

  it("metrics are served in Prometheus format", async () => {
    await signInCookie(harness);
    await signInCookie(harness);
    const response = await request(harness.app.callback()).get("/metrics");
    expect(response.status).toBe(200);
    expect(response.text).toContain("federated_signin_sign_ins_total");
    expect(response.text).toMatch(/^federated_signin_active_sessions 2$/m);
  });
});

describe("forward-auth redirect mode", () => {
  it("anonymous /auth?redirect=1 goes to the sign-in page", async () => {
    const harness = await createHarness();
    try {
      const response = await request(harness.app.callback())
        .get("/auth?redirect=1")
        .set("X-Forwarded-Uri", "/charts/42?tab=vitals");
      expect(response.status).toBe(302);
      expect(response.headers.location).toBe(
        `http://localhost:3000/?returnTo=${encodeURIComponent("/charts/42?tab=vitals")}`,
      );
      const offSite = await request(harness.app.callback())
        .get("/auth?redirect=1")
        .set("X-Forwarded-Uri", "//evil.example/");
      expect(offSite.headers.location).toBe("http://localhost:3000/?returnTo=%2F");
    } finally {
      await harness.signIn.close();
    }
  });
});

describe("logout cross-site check", () => {
  it.each([
    [{ "Sec-Fetch-Site": "same-origin", Origin: "null" }, 303],
    [{ "Sec-Fetch-Site": "cross-site" }, 400],
    [{ "Sec-Fetch-Site": "same-site", Origin: "http://localhost:3000" }, 400],
    [{ Origin: "http://localhost:3000" }, 303],
    [{ Origin: "null" }, 400],
    [{}, 303],
  ])("headers %j give %i", async (headers, status) => {
    const harness = await createHarness();
    try {
      const response = await request(harness.app.callback())
        .post("/logout")
        .set(headers as Record<string, string>)
        .set("Accept", "text/html");
      expect(response.status).toBe(status);
    } finally {
      await harness.signIn.close();
    }
  });
});
