// Attacks on SMART launches: `iss` allow-list bypasses, `launch` parameter injection and
// transactions of the wrong protocol. Each rejection must happen before any request leaves the
// service.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@jest/globals";
import type Koa from "koa";
import { FakeClock, captureLog } from "../session/helpers.js";
import { CookieJar, appGet, appPath, startService } from "../support/oidc-helpers.js";
import { RogueProvider } from "../support/oidc-rogue-provider.js";

const BASE = "http://127.0.0.1:8080";
const CLIENT_ID = "attack-smart-app";

const clock = new FakeClock();
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
  ehr.extraTokenFields = {};
  ehr.tokenRequests = [];
});

async function service() {
  const log = captureLog();
  const started = await startService(
    [
      {
        id: "ehr",
        type: "smart" as const,
        fhirServers: [fhirBase],
        clientId: CLIENT_ID,
        clientSecret: "attack-smart-secret",
        scopes: ["launch", "openid", "fhirUser"],
        trace: true,
      },
      {
        id: "mercy",
        type: "oidc" as const,
        issuer: ehr.issuer,
        clientId: CLIENT_ID,
        clientSecret: "attack-oidc-secret",
      },
    ],
    { clock, logger: log.logger },
  );
  return { ...started, log };
}

function launchPath(iss: string, launch = "launch-1"): string {
  return `/smart/ehr/launch?iss=${encodeURIComponent(iss)}&launch=${encodeURIComponent(launch)}`;
}

describe("EHR launch iss allow-list", () => {
  const bypasses = (base: string): Array<[string, string]> => {
    const url = new URL(base);
    return [
      ["upper-case scheme and host", base.replace("http://127.0.0.1", "HTTP://127.0.0.1")],
      ["a trailing dot on the host", base.replace("127.0.0.1", "127.0.0.1.")],
      ["userinfo before the host", base.replace("http://", "http://evil.example.test@")],
      ["userinfo naming the allowed host", `http://${url.host}@evil.example.test${url.pathname}`],
      ["a path traversal", `${base}/../evil`],
      ["a dot segment", base.replace("/fhir", "/x/../fhir")],
      ["an encoded slash", base.replace("/fhir", "%2ffhir")],
      ["a query", `${base}?x=1`],
      ["a fragment", `${base}#x`],
      ["a longer path", `${base}-evil`],
      ["a prefix of the path", base.slice(0, -1)],
      ["another port", base.replace(`:${url.port}`, ":1")],
      ["a backslash", base.replace("/fhir", "\\fhir")],
      ["an IDN look-alike host", base.replace("127.0.0.1", "127.0.0.\u0661")],
      ["surrounding spaces", ` ${base} `],
    ];
  };

  it("rejects every look-alike of the allowed server", async () => {
    const { app, signIn } = await service();
    for (const [name, iss] of bypasses(fhirBase)) {
      const jar = new CookieJar();
      const res = await appGet(app, jar, launchPath(iss));
      expect([name, res.body.error]).toEqual([name, "SMART_ISS_NOT_ALLOWED"]);
      expect([name, res.headers.location]).toEqual([name, undefined]);
    }
    expect(ehr.tokenRequests).toHaveLength(0);
    await signIn.close();
  });

  it("rejects a repeated iss parameter", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const path = `/smart/ehr/launch?iss=${encodeURIComponent(fhirBase)}&iss=https%3A%2F%2Fevil.example.test&launch=l`;
    const res = await appGet(app, jar, path);
    expect(res.body.error).toBe("SMART_LAUNCH_INVALID");
    await signIn.close();
  });

  it("rejects a fhirServer outside the list at standalone login", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const res = await appGet(
      app,
      jar,
      `/smart/ehr/login?fhirServer=${encodeURIComponent(`${fhirBase}.evil`)}`,
    );
    expect(res.body.error).toBe("SMART_ISS_NOT_ALLOWED");
    await signIn.close();
  });
});

describe("launch parameter injection", () => {
  it("sends the launch value as one encoded parameter", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const injected = "abc&scope=patient/*.cruds&redirect_uri=https://evil.example.test/cb&aud=x";
    const res = await appGet(app, jar, launchPath(fhirBase, injected), false);
    expect(res.status).toBe(302);
    const authorization = new URL(res.headers.location!);
    expect(authorization.searchParams.getAll("launch")).toEqual([injected]);
    expect(authorization.searchParams.getAll("scope")).toEqual(["launch openid fhirUser"]);
    expect(authorization.searchParams.getAll("redirect_uri")).toEqual([
      `${BASE}/smart/ehr/callback`,
    ]);
    expect(authorization.searchParams.getAll("aud")).toEqual([fhirBase]);
    await signIn.close();
  });

  it("rejects an over-long launch value", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const res = await appGet(app, jar, launchPath(fhirBase, "l".repeat(5000)));
    expect(res.body.error).toBe("SMART_LAUNCH_INVALID");
    await signIn.close();
  });
});

describe("mixed transactions", () => {
  it("rejects an OIDC state at the SMART callback", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const login = await appGet(app, jar, "/oidc/mercy/login", false);
    const state = new URL(login.headers.location!).searchParams.get("state")!;
    // The browser also has a SMART binding cookie from a launch it started.
    await appGet(app, jar, launchPath(fhirBase), false);

    const res = await appGet(app, jar, `/smart/ehr/callback?code=c&state=${state}`);
    expect(res.body.error).toBe("OIDC_STATE_MISMATCH");
    expect(ehr.tokenRequests).toHaveLength(0);
    await signIn.close();
  });

  it("rejects a SMART state at the OIDC callback", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const launch = await appGet(app, jar, launchPath(fhirBase), false);
    const state = new URL(launch.headers.location!).searchParams.get("state")!;
    await appGet(app, jar, "/oidc/mercy/login", false);

    const res = await appGet(app, jar, `/oidc/mercy/callback?code=c&state=${state}`);
    expect(res.body.error).toBe("OIDC_STATE_MISMATCH");
    expect(ehr.tokenRequests).toHaveLength(0);
    await signIn.close();
  });
});

describe("SMART tokens", () => {
  async function launch(app: Koa, jar: CookieJar): Promise<string> {
    ehr.extraTokenFields = { patient: "patient-42", encounter: "encounter-7" };
    ehr.mutateClaims = (claims) => (claims.fhirUser = `${fhirBase}/Practitioner/p1`);
    const ours = await appGet(app, jar, launchPath(fhirBase), false);
    const back = await fetch(ours.headers.location!, { redirect: "manual" });
    return appPath(back.headers.get("location")!, BASE);
  }

  it("never reach the session, headers, redirects, logs, audit or traces", async () => {
    const { app, signIn, audit, log } = await service();
    const jar = new CookieJar();
    const callback = await appGet(app, jar, await launch(app, jar));
    expect(callback.status).toBe(303);
    const session = await appGet(app, jar, "/session");
    expect(session.body.identity.smart.patient).toBe("patient-42");
    const auth = await appGet(app, jar, "/auth");
    const trace = await signIn.services.store.get("trace:ehr");
    const outputs = [
      JSON.stringify(callback.headers),
      JSON.stringify(session.body),
      JSON.stringify(auth.headers),
      log.text(),
      JSON.stringify(audit.events()),
      String(trace),
    ];
    for (const output of outputs) {
      expect(output).not.toContain("rogue-access-token");
      expect(output).not.toContain("rogue-refresh-token");
      expect(output).not.toContain("rogue-code");
      expect(output).not.toMatch(/eyJ[\w-]+\.eyJ/);
    }
    await signIn.close();
  });

  it("rejects an ID token whose aud is another app", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const path = await launch(app, jar);
    ehr.mutateClaims = (claims) => (claims.aud = "another-smart-app");
    const callback = await appGet(app, jar, path);
    expect(callback.body.error).toBe("OIDC_AUDIENCE_MISMATCH");
    expect((await appGet(app, jar, "/session")).status).toBe(401);
    await signIn.close();
  });

  it("rejects an ID token that names the FHIR base as issuer", async () => {
    const { app, signIn } = await service();
    const jar = new CookieJar();
    const path = await launch(app, jar);
    ehr.mutateClaims = (claims) => (claims.iss = fhirBase);
    const callback = await appGet(app, jar, path);
    expect(callback.body.error).toBe("OIDC_ISSUER_MISMATCH");
    expect((await appGet(app, jar, "/session")).status).toBe(401);
    await signIn.close();
  });
});
