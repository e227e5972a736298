// Findings of the second attack review, each fixed; every test sends the attack and asserts the
// safe behaviour.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type Koa from "koa";
import request from "supertest";
import { parseConfig } from "../../src/config/load.js";
import { samlInstant } from "../../src/saml/xml.js";
import { RogueEhr } from "../logout/rogue-ehr.js";
import { ALICE, idpLogoutRequestXml, samlSignIn, signedRedirectLogout } from "../logout/support.js";
import { FakeClock } from "../session/helpers.js";
import { CookieJar, appGet, appPath, startService } from "../support/oidc-helpers.js";
import { RogueProvider } from "../support/oidc-rogue-provider.js";
import { SamlHarness } from "../support/saml-harness.js";

const BASE = "http://127.0.0.1:8080";

/** POST /logout from this site, as the "Sign out everywhere" button sends it. */
function logoutEverywhere(app: Koa, jar: CookieJar) {
  return request(app.callback())
    .post("/logout?idp=1")
    .set("Cookie", jar.header())
    .set("Sec-Fetch-Site", "same-origin")
    .set("Accept", "application/json");
}

describe("SMART launch without openid", () => {
  const clock = new FakeClock();
  let ehr: RogueEhr;

  beforeAll(async () => {
    ehr = await new RogueEhr().start();
  });

  afterAll(async () => {
    await ehr.stop();
  });

  it("rejects a SMART connection without openid", async () => {
    // Without an ID token, the patient that was opened would stand in for the user, and two
    // clinicians opening one chart would share one identity and one logout set.
    await expect(
      startService(
        [
          {
            id: "ehr",
            type: "smart",
            fhirServers: [ehr.fhirBase],
            clientId: "smart-client",
            clientSecret: "smart-client-secret",
            scopes: ["launch/patient", "patient/*.rs", "offline_access"],
          },
        ],
        { clock },
      ),
    ).rejects.toThrow(/connections\[0\]\.scopes: must include openid/);
  });
});

describe("SMART connection with two EHRs", () => {
  const clock = new FakeClock();
  const clientId = "two-ehr-app";
  let ehrA: RogueProvider;
  let ehrB: RogueProvider;

  beforeAll(async () => {
    const options = { clientId, now: () => clock.now(), prefix: "/oauth2", fhirPath: "/fhir" };
    ehrA = await new RogueProvider(options).start();
    ehrB = await new RogueProvider(options).start();
  });

  afterAll(async () => {
    await ehrA.stop();
    await ehrB.stop();
  });

  async function launchAt(app: Koa, ehr: RogueProvider): Promise<CookieJar> {
    const jar = new CookieJar();
    const fhirBase = `${ehr.base}/fhir`;
    ehr.extraTokenFields = { patient: "patient-1" };
    ehr.mutateClaims = (claims) => {
      claims.sub = "practitioner-1";
      delete claims.tid;
      delete claims.oid;
    };
    const query = `iss=${encodeURIComponent(fhirBase)}&launch=launch-1`;
    const ours = await appGet(app, jar, `/smart/ehrs/launch?${query}`, false);
    const back = await fetch(ours.headers.location!, { redirect: "manual" });
    const callback = await appGet(app, jar, appPath(back.headers.get("location")!, BASE));
    expect(callback.status).toBe(303);
    return jar;
  }

  it("keeps users of two EHRs apart when their sub is equal", async () => {
    const { app, signIn } = await startService(
      [
        {
          id: "ehrs",
          type: "smart",
          fhirServers: [`${ehrA.base}/fhir`, `${ehrB.base}/fhir`],
          clientId,
          clientSecret: "two-ehr-secret",
          scopes: ["launch", "openid", "fhirUser"],
        },
      ],
      { clock },
    );
    try {
      const atA = await launchAt(app, ehrA);
      const atB = await launchAt(app, ehrB);
      const identityA = (await appGet(app, atA, "/session")).body.identity;
      const identityB = (await appGet(app, atB, "/session")).body.identity;
      expect(identityA.issuer).not.toBe(identityB.issuer);

      // The stable user key must not let EHR B's user pass as EHR A's user.
      expect(identityB.id).not.toBe(identityA.id);
      const auth = await appGet(app, atB, "/auth");
      expect(auth.headers["x-auth-request-user"]).not.toBe(identityA.id);

      // Sign-out everywhere at EHR B must not end the session of EHR A's user.
      expect((await logoutEverywhere(app, atB)).body.loggedOut).toBe(true);
      expect((await appGet(app, atA, "/session")).status).toBe(200);
    } finally {
      await signIn.close();
    }
  });
});

describe("SAML LogoutRequest for another service provider", () => {
  it("keeps the session when Destination names another SP", async () => {
    const harness = await SamlHarness.start();
    try {
      const { browser } = await samlSignIn(harness, harness);
      const xml = idpLogoutRequestXml(
        "_misdirected1",
        ALICE.objectId,
        samlInstant(harness.clock.now()),
      ).replace(
        'Version="2.0"',
        'Version="2.0" Destination="https://other-sp.example.test/saml/slo"',
      );
      const res = await harness.http().get(signedRedirectLogout(xml));

      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.headers.location).toBeUndefined();
      expect((await harness.session(browser)).status).toBe(200);
    } finally {
      await harness.close();
    }
  });
});

describe("config errors", () => {
  it("do not echo a secret read from the environment", () => {
    const secret = "short-but-secret-value-7Q";
    let message = "";
    try {
      parseConfig(
        {
          baseUrl: "https://signin.example.org",
          session: { keys: ["env:FS_TEST_SESSION_KEY"] },
          admin: { token: "env:FS_TEST_ADMIN_TOKEN" },
          connections: [],
        },
        { env: { FS_TEST_SESSION_KEY: secret, FS_TEST_ADMIN_TOKEN: `admin-${secret}` } },
      );
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("session.keys[0]");
    expect(message).not.toContain(secret);
  });
});

describe("OIDC callback with a stolen state", () => {
  const clock = new FakeClock();
  const clientId = "stolen-state-client";
  let provider: RogueProvider;

  beforeAll(async () => {
    provider = await new RogueProvider({ clientId, now: () => clock.now() }).start();
  });

  afterAll(async () => {
    await provider.stop();
  });

  it("leaves the victim's pending sign-in usable", async () => {
    const { app, signIn } = await startService(
      [
        {
          id: "rogue",
          type: "oidc",
          issuer: provider.issuer,
          clientId,
          clientSecret: "rogue-secret",
          claims: "entra",
        },
      ],
      { clock },
    );
    try {
      const victim = new CookieJar();
      const login = await appGet(app, victim, "/oidc/rogue/login", false);
      const back = await fetch(login.headers.location!, { redirect: "manual" });
      const callbackPath = appPath(back.headers.get("location")!, BASE);

      // Another browser replays the victim's callback URL first and is rejected.
      const attacker = new CookieJar();
      const forged = await appGet(app, attacker, callbackPath);
      expect(forged.body.error).toBe("OIDC_STATE_MISMATCH");

      // The rejected request must have changed nothing: the victim still completes.
      const genuine = await appGet(app, victim, callbackPath);
      expect(genuine.status).toBe(303);
    } finally {
      await signIn.close();
    }
  });
});

describe("OIDC ID token issued in the future", () => {
  const clock = new FakeClock();
  const clientId = "future-iat-client";
  let provider: RogueProvider;

  beforeAll(async () => {
    provider = await new RogueProvider({ clientId, now: () => clock.now() }).start();
  });

  afterAll(async () => {
    await provider.stop();
  });

  it("is rejected", async () => {
    const { app, signIn } = await startService(
      [
        {
          id: "rogue",
          type: "oidc",
          issuer: provider.issuer,
          clientId,
          clientSecret: "rogue-secret",
          claims: "entra",
        },
      ],
      { clock },
    );
    try {
      // Issued a day ahead and valid until five minutes after that.
      provider.mutateClaims = (claims) => {
        claims.iat = Number(claims.iat) + 86_400;
        claims.exp = Number(claims.iat) + 300;
      };
      const jar = new CookieJar();
      const login = await appGet(app, jar, "/oidc/rogue/login", false);
      const back = await fetch(login.headers.location!, { redirect: "manual" });
      const callback = await appGet(app, jar, appPath(back.headers.get("location")!, BASE));

      expect(callback.body.error).toMatch(/^OIDC_TOKEN_(EXPIRED|INVALID)$/);
      expect((await appGet(app, jar, "/session")).status).toBe(401);
    } finally {
      await signIn.close();
    }
  });
});
