import type Koa from "koa";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import request from "supertest";
import {
  DEMO_SMART_PATIENTS,
  startDemoSmartEhr,
  type DemoSmartEhr,
} from "../../src/demo/smart-ehr.js";
import { MemoryStore } from "../../src/session/memory-store.js";
import type { Store } from "../../src/session/store.js";
import { getSmartAccessToken } from "../../src/smart/tokens.js";
import { FakeClock, captureLog } from "../session/helpers.js";
import { CookieJar, appGet, appPath, startService } from "../support/oidc-helpers.js";

const BASE = "http://127.0.0.1:8080";
const PATIENT = DEMO_SMART_PATIENTS[0]!;
/** Access token lifetime at the demo EHR; shorter than the session's 30-minute idle timeout. */
const ACCESS_TOKEN_LIFETIME_MS = 10 * 60_000;
const clock = new FakeClock();
let ehr: DemoSmartEhr;

beforeAll(async () => {
  ehr = await startDemoSmartEhr({
    port: 0,
    redirectUris: [`${BASE}/smart/epic/callback`],
    launchUrl: `${BASE}/smart/epic/launch`,
    clientSecret: "ehr-secret",
    now: () => clock.now(),
    accessTokenLifetimeSeconds: ACCESS_TOKEN_LIFETIME_MS / 1000,
  });
});

afterAll(async () => {
  await ehr.stop();
});

async function service(fhirServers = [ehr.issuer], store?: Store) {
  const log = captureLog();
  const started = await startService(
    [
      {
        id: "epic",
        type: "smart",
        fhirServers,
        clientId: ehr.clientId,
        clientSecret: "ehr-secret",
        scopes: ["launch", "openid", "fhirUser", "offline_access"],
      },
    ],
    { clock, logger: log.logger, ...(store ? { store } : {}) },
  );
  started.app.use(async (ctx) => {
    if (ctx.path === "/test/token") {
      ctx.body = { token: await getSmartAccessToken(started.signIn, ctx) };
    }
  });
  return { ...started, log };
}

/** Lets the EHR launch the app and follows the redirects up to our callback; returns its path. */
async function launch(app: Koa, jar: CookieJar): Promise<string> {
  const ehrLaunch = await fetch(ehr.launchUrlFor(PATIENT), { redirect: "manual" });
  const launchPath = appPath(ehrLaunch.headers.get("location")!, BASE);
  const ours = await appGet(app, jar, launchPath, false);
  expect(ours.status).toBe(302);
  const authorizeUrl = new URL(ours.headers.location!);
  expect(authorizeUrl.searchParams.get("aud")).toBe(ehr.issuer);
  expect(authorizeUrl.searchParams.get("launch")).toBeTruthy();
  expect(authorizeUrl.searchParams.get("code_challenge_method")).toBe("S256");
  const back = await fetch(authorizeUrl, { redirect: "manual" });
  return appPath(back.headers.get("location")!, BASE);
}

/** Returns the access token from the test route, failing unless the status is 200. */
async function tokenOf(app: Koa, jar: CookieJar): Promise<string> {
  const response = await appGet(app, jar, "/test/token");
  expect(response.status).toBe(200);
  expect(typeof response.body.token).toBe("string");
  return response.body.token as string;
}

describe("SMART EHR launch", () => {
  test("launch carries patient and fhirUser", async () => {
    const { app, signIn, log, audit } = await service();
    const jar = new CookieJar();
    const callback = await appGet(app, jar, await launch(app, jar));
    expect(callback.status).toBe(303);
    const launchEvent = audit.events().find((event) => event.event === "smart_launch");
    expect(launchEvent?.patient).toBe(PATIENT);
    expect(launchEvent?.encounter).toBe("enc-1001");
    expect(launchEvent?.fhirBaseUrl).toBe(ehr.issuer);
    const session = await appGet(app, jar, "/session");
    expect(session.status).toBe(200);
    const identity = session.body.identity;
    expect(identity.protocol).toBe("smart");
    expect(identity.issuer).toBe(ehr.oauthIssuer);
    expect(identity.smart.fhirBaseUrl).toBe(ehr.issuer);
    expect(identity.smart.patient).toBe(PATIENT);
    expect(identity.smart.encounter).toBe("enc-1001");
    expect(identity.smart.fhirUser).toBe(`${ehr.issuer}/Practitioner/demo-clinician-1`);
    expect(identity.smart.needPatientBanner).toBe(false);
    expect(identity.smart.tenant).toBe("demo-org");
    const token = await appGet(app, jar, "/test/token");
    const accessToken = token.body.token as string;
    expect(accessToken.length).toBeGreaterThan(20);
    expect(JSON.stringify(session.body)).not.toContain(accessToken);
    const auth = await appGet(app, jar, "/auth");
    expect(auth.status).toBe(200);
    expect(JSON.stringify(auth.headers)).not.toContain(accessToken);
    expect(log.text()).not.toContain(accessToken);
    expect(JSON.stringify(audit.events())).not.toContain(accessToken);
    await signIn.close();
  });

  test("trailing slash iss is accepted", async () => {
    const { app, signIn } = await service([`${ehr.issuer}/`]);
    const jar = new CookieJar();
    expect((await appGet(app, jar, await launch(app, jar))).status).toBe(303);
    await signIn.close();
  });

  test("unknown iss is rejected before any request", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const before = ehr.requestCount();
    for (const iss of [
      "https://evil.example/fhir",
      `${ehr.issuer}.evil`,
      `${ehr.issuer}/../other`,
      `${ehr.issuer}x`,
    ]) {
      const response = await appGet(
        app,
        jar,
        `/smart/epic/launch?iss=${encodeURIComponent(iss)}&launch=abc`,
      );
      expect(response.body.error).toBe("SMART_ISS_NOT_ALLOWED");
      expect(response.status).toBe(403);
      expect(response.headers.location).toBeUndefined();
    }
    expect(ehr.requestCount()).toBe(before);
    expect((await appGet(app, jar, "/session")).status).toBe(401);
    await signIn.close();
  });

  test("missing launch is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const noLaunch = await appGet(
      app,
      jar,
      `/smart/epic/launch?iss=${encodeURIComponent(ehr.issuer)}`,
    );
    expect(noLaunch.body.error).toBe("SMART_LAUNCH_INVALID");
    const noIss = await appGet(app, jar, `/smart/epic/launch?launch=abc`);
    expect(noIss.body.error).toBe("SMART_LAUNCH_INVALID");
    expect((await appGet(app, jar, "/session")).status).toBe(401);
    await signIn.close();
  });

  test("standalone fhirServer outside list is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const response = await appGet(
      app,
      jar,
      `/smart/epic/login?fhirServer=${encodeURIComponent("https://evil.example/fhir")}`,
    );
    expect(response.body.error).toBe("SMART_ISS_NOT_ALLOWED");
    expect((await appGet(app, jar, "/session")).status).toBe(401);
    await signIn.close();
  });

  test("replayed state is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const callbackPath = await launch(app, jar);
    expect((await appGet(app, jar, callbackPath)).status).toBe(303);
    const other = jar.clone();
    const replay = await appGet(app, other, callbackPath);
    expect(replay.body.error).toBe("OIDC_STATE_MISMATCH");
    await signIn.close();
  });

  test("state from another browser is rejected", async () => {
    const { app, signIn } = await service();
    const victim = new CookieJar();
    const callbackPath = await launch(app, victim);
    const attacker = new CookieJar();
    const response = await appGet(app, attacker, callbackPath);
    expect(response.body.error).toBe("OIDC_STATE_MISMATCH");
    expect((await appGet(app, attacker, "/session")).status).toBe(401);
    await signIn.close();
  });

  test("expired access token is refreshed", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    expect((await appGet(app, jar, await launch(app, jar))).status).toBe(303);
    const first = await tokenOf(app, jar);
    expect(await tokenOf(app, jar)).toBe(first);
    clock.advance(ACCESS_TOKEN_LIFETIME_MS - 30_000);
    const second = await tokenOf(app, jar);
    expect(second).not.toBe(first);
    // The session now contains the refreshed token.
    expect(await tokenOf(app, jar)).toBe(second);
    await signIn.close();
  });

  test("concurrent refreshes share one grant", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    expect((await appGet(app, jar, await launch(app, jar))).status).toBe(303);
    const first = await tokenOf(app, jar);
    clock.advance(ACCESS_TOKEN_LIFETIME_MS - 30_000);
    const before = ehr.requestCount();
    // The demo EHR rotates refresh tokens, so a second refresh with the old one would fail.
    const [one, two] = await Promise.all([
      appGet(app, jar.clone(), "/test/token"),
      appGet(app, jar.clone(), "/test/token"),
    ]);
    expect(one.status).toBe(200);
    expect(two.status).toBe(200);
    expect(one.body.token).not.toBe(first);
    expect(two.body.token).toBe(one.body.token);
    expect(ehr.requestCount() - before).toBe(1);
    expect(await tokenOf(app, jar)).toBe(one.body.token);
    await signIn.close();
  });

  test("two instances refresh once", async () => {
    const shared = new MemoryStore({ clock });
    const first = await service([ehr.issuer], shared);
    const second = await service([ehr.issuer], shared);
    const jar = new CookieJar();
    expect((await appGet(first.app, jar, await launch(first.app, jar))).status).toBe(303);
    const before = await tokenOf(second.app, jar);
    clock.advance(ACCESS_TOKEN_LIFETIME_MS - 30_000);
    const requestsBefore = ehr.requestCount();
    const [one, two] = await Promise.all([
      appGet(first.app, jar.clone(), "/test/token"),
      appGet(second.app, jar.clone(), "/test/token"),
    ]);
    expect(one.status).toBe(200);
    expect(two.status).toBe(200);
    expect(one.body.token).not.toBe(before);
    expect(two.body.token).toBe(one.body.token);
    expect(ehr.requestCount() - requestsBefore).toBe(1);
    await first.signIn.close();
    await second.signIn.close();
  });

  test("no session gives NOT_SIGNED_IN", async () => {
    const { app, signIn } = await service();
    const response = await request(app.callback())
      .get("/test/token")
      .set("Accept", "application/json");
    expect(response.status).toBe(401);
    expect(response.body.error).toBe("NOT_SIGNED_IN");
    await signIn.close();
  });
});
