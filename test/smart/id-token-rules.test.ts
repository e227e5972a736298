import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { createHash } from "node:crypto";
import { UnsecuredJWT, generateKeyPair } from "jose";
import type Koa from "koa";
import { FakeClock } from "../session/helpers.js";
import { CookieJar, appGet, appPath, startService } from "../support/oidc-helpers.js";
import { RogueProvider } from "../support/oidc-rogue-provider.js";

const BASE = "http://127.0.0.1:8080";
const CLIENT_ID = "rogue-smart-app";
const PATIENT = "erXuFYUfucBZaryVksYEcMg3";

const clock = new FakeClock();
/** A rogue EHR: FHIR base at `/fhir`, OAuth issuer and endpoints under `/oauth2`, like Epic. */
let ehr: RogueProvider;
let fhirBase: string;

beforeAll(async () => {
  ehr = await new RogueProvider({
    clientId: CLIENT_ID,
    now: () => clock.now(),
    prefix: "/oauth2",
    fhirPath: "/fhir",
    requirePkce: true,
  }).start();
  fhirBase = `${ehr.base}/fhir`;
});

afterAll(async () => {
  await ehr.stop();
});

afterEach(() => {
  ehr.mutateClaims = () => {};
  ehr.forgeIdToken = undefined;
  ehr.extraTokenFields = {};
  ehr.tokenRequests = [];
});

/** Starts the service. A `clientSecret` of null makes a public client (PKCE only). */
async function service(clientSecret: string | null = "rogue-secret") {
  return startService(
    [
      {
        id: "rogue",
        type: "smart" as const,
        fhirServers: [fhirBase],
        clientId: CLIENT_ID,
        ...(clientSecret ? { clientSecret } : {}),
        scopes: ["launch", "openid", "fhirUser"],
      },
    ],
    { clock },
  );
}

/** Runs an EHR launch through the rogue EHR and returns our callback path with its query. */
async function launch(app: Koa, jar: CookieJar): Promise<string> {
  ehr.extraTokenFields = { patient: PATIENT, ...ehr.extraTokenFields };
  const query = `iss=${encodeURIComponent(fhirBase)}&launch=launch-1`;
  const ours = await appGet(app, jar, `/smart/rogue/launch?${query}`, false);
  expect(ours.status).toBe(302);
  const back = await fetch(ours.headers.location!, { redirect: "manual" });
  return appPath(back.headers.get("location")!, BASE);
}

async function expectRejected(app: Koa, jar: CookieJar, callbackPath: string, code: string) {
  const callback = await appGet(app, jar, callbackPath);
  expect(callback.body.error).toBe(code);
  expect((await appGet(app, jar, "/session")).status).toBe(401);
}

describe("SMART id_token rules", () => {
  test("valid token signs in", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const callback = await appGet(app, jar, await launch(app, jar));
    expect(callback.status).toBe(303);
    const session = await appGet(app, jar, "/session");
    expect(session.status).toBe(200);
    expect(session.body.identity.issuer).toBe(ehr.issuer);
    expect(session.body.identity.smart.fhirBaseUrl).toBe(fhirBase);
    expect(session.body.identity.smart.patient).toBe(PATIENT);
    await signIn.close();
  });

  test("signature by unknown key is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const other = await generateKeyPair("RS256");
    ehr.forgeIdToken = (claims) => ehr.sign(claims, other.privateKey, ehr.kid);
    await expectRejected(app, jar, await launch(app, jar), "OIDC_SIGNATURE_INVALID");
    await signIn.close();
  });

  test("unsigned alg none is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    ehr.forgeIdToken = async (claims) => new UnsecuredJWT(claims).encode();
    await expectRejected(app, jar, await launch(app, jar), "OIDC_SIGNATURE_INVALID");
    await signIn.close();
  });

  test("wrong audience is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    ehr.mutateClaims = (claims) => (claims.aud = "another-smart-app");
    await expectRejected(app, jar, await launch(app, jar), "OIDC_AUDIENCE_MISMATCH");
    await signIn.close();
  });

  test("wrong nonce is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    ehr.mutateClaims = (claims) => (claims.nonce = "not-the-nonce");
    await expectRejected(app, jar, await launch(app, jar), "OIDC_NONCE_MISMATCH");
    await signIn.close();
  });

  test("missing nonce is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    ehr.mutateClaims = (claims) => delete claims.nonce;
    await expectRejected(app, jar, await launch(app, jar), "OIDC_NONCE_MISMATCH");
    await signIn.close();
  });

  test("expired token is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    ehr.mutateClaims = (claims) => {
      claims.iat = Math.floor(clock.now() / 1000) - 1200;
      claims.exp = Math.floor(clock.now() / 1000) - 600;
    };
    await expectRejected(app, jar, await launch(app, jar), "OIDC_TOKEN_EXPIRED");
    await signIn.close();
  });

  test("FHIR base as issuer is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    ehr.mutateClaims = (claims) => (claims.iss = fhirBase);
    await expectRejected(app, jar, await launch(app, jar), "OIDC_ISSUER_MISMATCH");
    await signIn.close();
  });

  test("missing id_token is rejected", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    // JSON.stringify drops a member whose value is undefined.
    ehr.extraTokenFields = { id_token: undefined };
    await expectRejected(app, jar, await launch(app, jar), "OIDC_TOKEN_INVALID");
    await signIn.close();
  });
});

describe("SMART public client", () => {
  test("token request sends no secret", async () => {
    const { app, signIn } = await service(null);
    const jar = new CookieJar();
    const callback = await appGet(app, jar, await launch(app, jar));
    expect(callback.status).toBe(303);
    expect((await appGet(app, jar, "/session")).status).toBe(200);

    expect(ehr.tokenRequests).toHaveLength(1);
    const sent = ehr.tokenRequests[0]!;
    expect(sent.authorization).toBeUndefined();
    expect(sent.form.get("client_id")).toBe(CLIENT_ID);
    expect(sent.form.get("client_secret")).toBeNull();
    expect(sent.form.get("client_assertion")).toBeNull();
    const verifier = sent.form.get("code_verifier") ?? "";
    expect(verifier).toMatch(/^[\w-]{43,128}$/);
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    expect(ehr.lastAuthorizationRequest?.get("code_challenge")).toBe(challenge);
    expect(ehr.lastAuthorizationRequest?.get("code_challenge_method")).toBe("S256");
    await signIn.close();
  });

  test("confidential client sends Basic secret", async () => {
    const { app, signIn } = await service("rogue-secret");
    const jar = new CookieJar();
    expect((await appGet(app, jar, await launch(app, jar))).status).toBe(303);
    const sent = ehr.tokenRequests[0]!;
    const [scheme, encoded] = (sent.authorization ?? "").split(" ");
    expect(scheme).toBe("Basic");
    const [user, password] = Buffer.from(encoded ?? "", "base64")
      .toString("utf8")
      .split(":");
    expect(decodeURIComponent(user ?? "")).toBe(CLIENT_ID);
    expect(decodeURIComponent(password ?? "")).toBe("rogue-secret");
    expect(sent.form.get("client_secret")).toBeNull();
    await signIn.close();
  });
});
