import { afterAll, afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import type Koa from "koa";
import request from "supertest";
import { MemorySink } from "../../src/audit/audit.js";
import { parseConfig } from "../../src/config/load.js";
import { createApp } from "../../src/http/create-sign-in.js";
import { MemoryStore } from "../../src/session/memory-store.js";
import {
  MAX_TRACES_PER_CONNECTION,
  TRACE_TTL_MS,
  listTraces,
  recordTrace,
  type SignInTrace,
} from "../../src/traces/trace.js";
import { FakeClock, captureLog } from "../session/helpers.js";
import { CookieJar, TEST_SESSION_KEY, appGet, appPath } from "../support/oidc-helpers.js";
import { RogueProvider } from "../support/oidc-rogue-provider.js";
import {
  ALICE,
  IDP_ENTITY_ID,
  IDP_KEY,
  IDP_SLO_URL,
  IDP_SSO_URL,
  REPO_ROOT,
  SamlHarness,
  buildSignedResponse,
} from "../support/saml-harness.js";

const ADMIN_TOKEN = "admin-token-0123456789abcdefghijklmnopqrstuv";

function samlTraceConfig(options: { trace?: boolean; admin?: boolean } = {}) {
  return parseConfig(
    {
      baseUrl: "https://signin.example.org",
      logLevel: "silent",
      session: { keys: ["test-session-key-0123456789abcdefghijklmnop"] },
      ...(options.admin === false ? {} : { admin: { token: "env:FS_ADMIN_TOKEN" } }),
      connections: [
        {
          id: "entra",
          type: "saml",
          idp: {
            entityId: IDP_ENTITY_ID,
            ssoUrl: IDP_SSO_URL,
            sloUrl: IDP_SLO_URL,
            certificates: ["certs/demo-idp-signing.crt"],
          },
          claims: "entra",
          trace: options.trace ?? true,
        },
      ],
    },
    { configDir: REPO_ROOT, env: { FS_ADMIN_TOKEN: ADMIN_TOKEN } },
  );
}

async function samlHarness(options: { trace?: boolean; admin?: boolean } = {}) {
  const harness = new SamlHarness();
  const { app, signIn } = await createApp(samlTraceConfig(options), {
    clock: harness.clock,
    ids: harness.ids,
    auditSink: harness.audit,
  });
  harness.app = app;
  harness.signIn = signIn;
  return harness;
}

/** GET as JSON with the admin token, or with no Authorization header when `token` is null. */
function adminGet(app: Koa, path: string, token: string | null = ADMIN_TOKEN) {
  const req = request(app.callback()).get(path).set("Accept", "application/json");
  if (token !== null) req.set("Authorization", `Bearer ${token}`);
  return req;
}

/** Signs Alice in; returns the response XML that was posted. */
async function samlSignIn(harness: SamlHarness): Promise<string> {
  const { requestId, cookies } = await harness.login();
  const xml = buildSignedResponse(harness.fields(requestId), IDP_KEY);
  expect((await harness.postResponse(xml, cookies)).status).toBe(303);
  return xml;
}

describe("admin trace page access", () => {
  let harness: SamlHarness;
  afterEach(async () => {
    await harness.close();
  });

  it("answers 404 when no admin token is configured", async () => {
    harness = await samlHarness({ admin: false });
    const res = await adminGet(harness.app, "/admin/traces");
    expect(res.status).toBe(404);
    expect(res.body.error).toBe("ADMIN_NOT_CONFIGURED");
  });

  it("answers 401 without a token", async () => {
    harness = await samlHarness();
    const res = await adminGet(harness.app, "/admin/traces", null);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe("ADMIN_UNAUTHORIZED");
    expect(res.headers["www-authenticate"]).toContain("Bearer");
  });

  it.each([
    ["a wrong token", "Bearer admin-token-0123456789abcdefghijklmnopqrstuX"],
    ["a prefix of the token", `Bearer ${ADMIN_TOKEN.slice(0, 20)}`],
    ["the token as Basic credentials", `Basic ${ADMIN_TOKEN}`],
    ["the token without a scheme", ADMIN_TOKEN],
  ])("answers 401 with %s", async (_label, authorization) => {
    harness = await samlHarness();
    await samlSignIn(harness);
    const res = await request(harness.app.callback())
      .get("/admin/traces/entra")
      .set("Accept", "application/json")
      .set("Authorization", authorization);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe("ADMIN_UNAUTHORIZED");
    expect(JSON.stringify(res.body)).not.toContain("claims");
  });

  it("answers 200 with the token", async () => {
    harness = await samlHarness();
    const res = await adminGet(harness.app, "/admin/traces");
    expect(res.status).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(res.body).toEqual({ connections: ["entra"], traces: [] });
  });

  it("answers 404 for an unknown connection", async () => {
    harness = await samlHarness();
    const res = await adminGet(harness.app, "/admin/traces/nope");
    expect(res.status).toBe(404);
    expect(res.body.error).toBe("CONNECTION_NOT_FOUND");
  });
});

describe("SAML traces", () => {
  let harness: SamlHarness;
  afterEach(async () => {
    await harness.close();
  });

  it("records a sign-in with masked values and without the assertion", async () => {
    harness = await samlHarness();
    const xml = await samlSignIn(harness);
    const res = await adminGet(harness.app, "/admin/traces/entra");
    const traces = res.body.traces as SignInTrace[];
    expect(traces).toHaveLength(1);
    const trace = traces[0]!;
    expect(trace.outcome).toBe("success");
    expect(trace.received.assertionId).toBe("_assert1");
    expect(trace.received.nameIdFormat).toBe(
      "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    );
    expect(trace.received.issuer).toBe(IDP_ENTITY_ID);

    const upnClaim = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
    const upn = trace.claims.find((claim) => claim.name === upnClaim);
    expect(upn?.value).toBe("a***@d***.example");
    const email = trace.mapping.find((entry) => entry.field === "email");
    expect(email?.value).toBe("a***@d***.example");
    const givenName = trace.mapping.find((entry) => entry.field === "givenName");
    expect(givenName?.value).toBe("A***");

    const text = res.text;
    expect(text).not.toContain(ALICE.upn);
    expect(text).not.toContain(ALICE.displayName);
    expect(text).not.toContain(ALICE.surname);
    expect(text).not.toContain("SignatureValue");
    expect(text).not.toContain("<saml");
    expect(text).not.toContain(Buffer.from(xml).toString("base64").slice(0, 40));
  });

  it("records a rejection with its code", async () => {
    harness = await samlHarness();
    const { requestId, cookies } = await harness.login();
    const fields = { ...harness.fields(requestId), audience: "https://wrong.example/sp" };
    const rejected = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
    expect(rejected.body.error).toBe("SAML_AUDIENCE_MISMATCH");

    const res = await adminGet(harness.app, "/admin/traces/entra");
    const trace = (res.body.traces as SignInTrace[])[0]!;
    expect(trace.outcome).toBe("failure");
    expect(trace.code).toBe("SAML_AUDIENCE_MISMATCH");
    expect(trace.message).toBe(rejected.body.message);
    expect(trace.received.responseId).toBe("_resp1");
    expect(trace.received.issuer).toBe(IDP_ENTITY_ID);
    expect(trace.received.reason).toContain("Received: https://wrong.example/sp");
    expect(trace.claims).toEqual([]);
  });

  it("shows traces as an HTML page", async () => {
    harness = await samlHarness();
    await samlSignIn(harness);
    const res = await request(harness.app.callback())
      .get("/admin/traces")
      .set("Authorization", `Bearer ${ADMIN_TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toContain("text/html");
    expect(res.text).toContain("a***@d***.example");
    expect(res.text).not.toContain(ALICE.upn);
  });

  it("keeps no trace for a connection without trace: true", async () => {
    harness = await samlHarness({ trace: false });
    await samlSignIn(harness);
    expect(await listTraces(harness.signIn.services.store, "entra")).toEqual([]);
    const res = await adminGet(harness.app, "/admin/traces");
    expect(res.body).toEqual({ connections: [], traces: [] });
  });
});

describe("trace store", () => {
  function trace(index: number): SignInTrace {
    return {
      at: new Date(index * 1000).toISOString(),
      connection: "c",
      protocol: "saml",
      outcome: "success",
      received: { index: String(index) },
      claims: [],
      mapping: [],
    };
  }

  it("keeps the newest traces up to the limit", async () => {
    const store = new MemoryStore({ clock: new FakeClock() });
    for (let index = 0; index < MAX_TRACES_PER_CONNECTION + 5; index += 1) {
      await recordTrace(store, trace(index));
    }
    const traces = await listTraces(store, "c");
    expect(traces).toHaveLength(MAX_TRACES_PER_CONNECTION);
    expect(traces[0]?.received.index).toBe(String(MAX_TRACES_PER_CONNECTION + 4));
    await store.close();
  });

  it("drops traces after their TTL", async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    await recordTrace(store, trace(1));
    clock.advance(TRACE_TTL_MS);
    expect(await listTraces(store, "c")).toEqual([]);
    await store.close();
  });
});

describe("OIDC traces", () => {
  const clock = new FakeClock();
  const clientId = "11111111-2222-4333-8444-555555555555";
  let rogue: RogueProvider;

  beforeAll(async () => {
    rogue = await new RogueProvider({ clientId, now: () => clock.now() }).start();
  });

  afterAll(async () => {
    await rogue.stop();
  });

  it("records the claims but no token", async () => {
    const log = captureLog();
    const config = parseConfig({
      baseUrl: "http://127.0.0.1:8080",
      logLevel: "silent",
      session: { keys: [TEST_SESSION_KEY] },
      admin: { token: ADMIN_TOKEN },
      connections: [
        {
          id: "rogue",
          type: "oidc",
          issuer: rogue.issuer,
          clientId,
          clientSecret: "rogue-secret",
          claims: "entra",
          trace: true,
        },
      ],
    });
    const { app, signIn } = await createApp(config, {
      clock,
      logger: log.logger,
      auditSink: new MemorySink(),
    });
    try {
      const jar = new CookieJar();
      const login = await appGet(app, jar, "/oidc/rogue/login", false);
      const response = await fetch(login.headers.location!, { redirect: "manual" });
      const callback = await appGet(
        app,
        jar,
        appPath(response.headers.get("location")!, "http://127.0.0.1:8080"),
      );
      expect(callback.status).toBe(303);

      const res = await adminGet(app, "/admin/traces/rogue");
      const trace = (res.body.traces as SignInTrace[])[0]!;
      expect(trace.protocol).toBe("oidc");
      expect(trace.claims.map((claim) => claim.name)).toContain("preferred_username");
      const username = trace.claims.find((claim) => claim.name === "preferred_username");
      expect(username?.value).toBe("a***@e***.org");
      expect(res.text).not.toContain("rogue-access-token");
      expect(res.text).not.toContain("rogue-refresh-token");
      expect(res.text).not.toContain("eyJ");
      expect(res.text).not.toContain("alice@example.org");
    } finally {
      await signIn.close();
    }
  });
});
