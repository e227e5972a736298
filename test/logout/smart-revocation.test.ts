import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import type Koa from "koa";
import request from "supertest";
import type { SignIn } from "../../src/http/create-sign-in.js";
import { FakeClock, captureLog, type CapturedLog } from "../session/helpers.js";
import { CookieJar, appGet, appPath, startService } from "../support/oidc-helpers.js";
import { RogueEhr } from "./rogue-ehr.js";

const BASE = "http://127.0.0.1:8080";
const CLIENT_ID = "smart-client";
const CLIENT_SECRET = "smart-client-secret";

const clock = new FakeClock();
let ehr: RogueEhr;
let app: Koa;
let signIn: SignIn;
let log: CapturedLog;

beforeAll(async () => {
  ehr = await new RogueEhr().start();
  ehr.now = () => clock.now();
});

afterAll(async () => {
  await ehr.stop();
});

beforeEach(async () => {
  ehr.revocations = [];
  ehr.revocationStatus = 200;
  ehr.advertiseRevocation = true;
  log = captureLog();
  ({ app, signIn } = await startService(
    [
      {
        id: "ehr",
        type: "smart",
        fhirServers: [ehr.fhirBase],
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        scopes: ["launch/patient", "openid", "fhirUser", "patient/*.rs", "offline_access"],
      },
    ],
    { clock, logger: log.logger },
  ));
});

afterEach(async () => {
  await signIn.close();
});

async function launch(): Promise<CookieJar> {
  const jar = new CookieJar();
  const login = await appGet(app, jar, "/smart/ehr/login", false);
  expect(login.status).toBe(302);
  const response = await fetch(login.headers.location!, { redirect: "manual" });
  const callback = await appGet(app, jar, appPath(response.headers.get("location")!, BASE));
  expect(callback.status).toBe(303);
  expect((await appGet(app, jar, "/session")).status).toBe(200);
  return jar;
}

async function logout(jar: CookieJar) {
  return request(app.callback())
    .post("/logout")
    .set("Cookie", jar.header())
    .set("Accept", "application/json");
}

describe("SMART logout", () => {
  it("revokes the refresh and access tokens at the EHR", async () => {
    const jar = await launch();
    const res = await logout(jar);
    expect(res.body.loggedOut).toBe(true);
    expect((await appGet(app, jar, "/session")).status).toBe(401);

    const revoked = ehr.revocations.map((entry) => [
      entry.form.get("token"),
      entry.form.get("token_type_hint"),
    ]);
    expect(revoked).toEqual([
      [ehr.refreshToken, "refresh_token"],
      [ehr.accessToken, "access_token"],
    ]);
    // RFC 6749 section 2.3.1: client ID and secret are form-encoded before base64.
    const basic = ehr.revocations[0]?.authorization?.replace(/^Basic /, "") ?? "";
    const [id, secret] = Buffer.from(basic, "base64").toString("utf8").split(":");
    expect([decodeURIComponent(id ?? ""), decodeURIComponent(secret ?? "")]).toEqual([
      CLIENT_ID,
      CLIENT_SECRET,
    ]);
    expect(log.text()).not.toContain(ehr.accessToken);
    expect(log.text()).not.toContain(ehr.refreshToken);
  });

  it("logs a failed revocation without the token and still logs out", async () => {
    const jar = await launch();
    ehr.revocationStatus = 503;
    const res = await logout(jar);
    expect(res.body.loggedOut).toBe(true);
    expect((await appGet(app, jar, "/session")).status).toBe(401);
    expect(ehr.revocations).toHaveLength(2);
    const failures = log
      .records()
      .filter((record) => String(record.msg).startsWith("SMART token revocation failed"));
    expect(failures.map((record) => record.step)).toEqual(["refresh_token", "access_token"]);
    expect(log.text()).not.toContain(ehr.accessToken);
    expect(log.text()).not.toContain(ehr.refreshToken);
  });

  it("sends nothing when the EHR advertises no revocation endpoint", async () => {
    ehr.advertiseRevocation = false;
    const jar = await launch();
    expect((await logout(jar)).body.loggedOut).toBe(true);
    expect(ehr.revocations).toEqual([]);
  });

  it("forgets the tokens with the session record", async () => {
    const jar = await launch();
    const store = signIn.services.store;
    const before = await store.get(`sess:${/fs_session=([^;]+)/.exec(jar.header())?.[1]}`);
    expect(before).toContain(ehr.accessToken);
    await logout(jar);
    expect(await store.get(`sess:${/fs_session=([^;]+)/.exec(jar.header())?.[1]}`)).toBeUndefined();
  });
});
