import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { runCheck, type CheckFinding } from "../../src/cli/check.js";
import { parseConfig } from "../../src/config/load.js";
import { FakeClock } from "../support/fakes.js";
import { IDP_ENTITY_ID, IDP_KEY, REPO_ROOT, certFile } from "../support/saml-harness.js";
import { DocumentServer, idpMetadataXml } from "./support.js";

const DAY_MS = 86_400_000;
const SESSION = { keys: ["test-session-key-0123456789abcdefghijklmnop"] };
const IDP_NOT_AFTER = Date.parse(new X509Certificate(certFile("demo-idp-signing.crt")).validTo);

let server: DocumentServer;

beforeAll(async () => {
  server = await DocumentServer.start();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.status = 200;
  server.dateOffsetMs = 0;
  server.contentType = "application/samlmetadata+xml";
  server.routes.clear();
  server.body = idpMetadataXml({ signingCerts: [IDP_KEY.cert] });
});

function config(connections: unknown[], baseUrl = "https://signin.example.org") {
  return parseConfig({ baseUrl, session: SESSION, connections }, { configDir: REPO_ROOT, env: {} });
}

function samlConnection(idp: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return { id: "mercy-saml", type: "saml", idp: { metadataUrl: server.url, ...idp }, ...extra };
}

/** Runs the check in-process; returns the exit code, the text output and the JSON findings. */
async function check(
  connections: unknown[],
  options: { baseUrl?: string; clock?: FakeClock } = {},
): Promise<{ code: number; text: string; findings: CheckFinding[] }> {
  const parsed = config(connections, options.baseUrl);
  const text: string[] = [];
  const clock = options.clock ? { clock: options.clock } : {};
  const code = await runCheck(parsed, {
    json: false,
    write: (chunk) => text.push(chunk),
    ...clock,
  });
  const json: string[] = [];
  const jsonCode = await runCheck(parsed, {
    json: true,
    write: (chunk) => json.push(chunk),
    ...clock,
  });
  expect(jsonCode).toBe(code);
  const findings = (JSON.parse(json.join("")) as { findings: CheckFinding[] }).findings;
  return { code, text: text.join(""), findings };
}

function only(findings: CheckFinding[], severity: CheckFinding["severity"]): CheckFinding[] {
  return findings.filter((finding) => finding.severity === severity);
}

describe("check: SAML", () => {
  it("passes a healthy connection and prints what to register", async () => {
    const { code, text } = await check([samlConnection()]);
    expect(code).toBe(0);
    expect(text).toContain("No problems found.");
    expect(text).toContain(
      "Identifier (Entity ID): https://signin.example.org/saml/mercy-saml/metadata",
    );
    expect(text).toContain(
      "Reply URL (Assertion Consumer Service URL): https://signin.example.org/saml/mercy-saml/acs",
    );
    expect(text).toContain("Logout URL: https://signin.example.org/saml/mercy-saml/slo");
  });

  it("reports a clock offset beyond clockSkew as an error", async () => {
    server.dateOffsetMs = 5 * 60_000;
    const { code, findings, text } = await check([samlConnection({}, { clockSkew: "3m" })]);
    expect(code).toBe(1);
    const [error] = only(findings, "error");
    expect(error?.problem).toMatch(
      /this host.s clock is about (4m 59s|5m 0s|5m 1s) behind 127\.0\.0\.1/,
    );
    expect(error?.fix).toContain("Synchronize this host's clock with NTP");
    expect(error?.fix).toContain("clockSkew (3m)");
    expect(text).toContain("ERROR [mercy-saml] this host's clock");
  });

  it("reports a clock offset over one minute as a warning", async () => {
    server.dateOffsetMs = -2 * 60_000;
    const { code, findings } = await check([samlConnection({}, { clockSkew: "3m" })]);
    expect(code).toBe(0);
    const [warning] = only(findings, "warning");
    expect(warning?.problem).toMatch(/about (1m 59s|2m 0s|2m 1s) ahead of/);
    expect(only(findings, "error")).toEqual([]);
  });

  it("reports WS-Fed-only metadata", async () => {
    server.body = idpMetadataXml({ signingCerts: [IDP_KEY.cert], wsFedOnly: true });
    const { code, findings } = await check([samlConnection()]);
    expect(code).toBe(1);
    expect(findings[0]?.problem).toContain("no IDPSSODescriptor for SAML 2.0");
    expect(findings[0]?.fix).toContain("WS-Federation only");
    expect(findings[0]?.fix).toContain("App Federation Metadata Url");
  });

  it("reports an entity ID that differs from idp.entityId", async () => {
    const { code, findings } = await check([
      samlConnection({ entityId: "https://sts.windows.net/another-tenant/" }),
    ]);
    expect(code).toBe(1);
    expect(findings[0]?.problem).toBe(
      `idp.entityId is https://sts.windows.net/another-tenant/, but the metadata names the IdP ${IDP_ENTITY_ID}`,
    );
    expect(findings[0]?.fix).toBe(
      `Set idp.entityId to ${IDP_ENTITY_ID}, or remove it so the metadata's entity ID is used.`,
    );
  });

  it("reports expired metadata", async () => {
    server.body = idpMetadataXml({
      signingCerts: [IDP_KEY.cert],
      validUntil: Date.UTC(2020, 0, 1),
    });
    const { code, findings } = await check([samlConnection()]);
    expect(code).toBe(1);
    expect(findings[0]?.problem).toContain("expired at 2020-01-01T00:00:00.000Z (validUntil)");
    expect(findings[0]?.fix).toContain("publish a current document");
  });

  it("reports an unreachable metadata URL", async () => {
    server.status = 404;
    const { code, findings } = await check([samlConnection()]);
    expect(code).toBe(1);
    expect(findings[0]?.problem).toBe("idp.metadataUrl answered HTTP status 404");
    expect(findings[0]?.fix).toContain("Check idp.metadataUrl and that this host can reach it");
  });

  it("reports an expired IdP certificate", async () => {
    const clock = new FakeClock(IDP_NOT_AFTER + DAY_MS);
    const { code, findings } = await check(
      [
        {
          id: "mercy-saml",
          type: "saml",
          idp: {
            metadataFile: "test/fixtures/saml/entra-app-federation-metadata-tenant.DERIVED.xml",
          },
        },
      ],
      { clock },
    );
    expect(code).toBe(1);
    const [error] = only(findings, "error");
    expect(error?.problem).toMatch(/^IdP signing certificate 1 in the metadata expired on /);
    expect(error?.fix).toContain("SAML Certificates");
  });

  it("warns about an IdP certificate that expires soon", async () => {
    const clock = new FakeClock(IDP_NOT_AFTER - 20 * DAY_MS);
    server.dateOffsetMs = clock.now() - Date.now();
    const { code, findings } = await check([samlConnection()], { clock });
    expect(code).toBe(0);
    const [warning] = only(findings, "warning");
    expect(warning?.problem).toMatch(
      /^IdP signing certificate 1 in the metadata expires in 20 days/,
    );
  });

  it("reports an expired SP certificate", async () => {
    const clock = new FakeClock(IDP_NOT_AFTER + 40 * DAY_MS);
    const { code, findings } = await check(
      [
        {
          id: "mercy-saml",
          type: "saml",
          idp: {
            entityId: IDP_ENTITY_ID,
            ssoUrl: "https://idp.example.test/saml2",
            certificates: [certFile("test-untrusted-signing.crt")],
          },
          sp: { signingKey: "certs/test-sp-signing.key", signingCert: "certs/test-sp-signing.crt" },
        },
      ],
      { clock },
    );
    expect(code).toBe(1);
    const spError = findings.find((finding) => finding.problem.startsWith("sp.signingCert"));
    expect(spError?.severity).toBe("error");
    expect(spError?.problem).toMatch(/^sp\.signingCert expired on /);
    expect(spError?.fix).toContain("sp.nextSigningCert");
  });
});

describe("check: service", () => {
  it("reports an http baseUrl on a host that is not loopback", async () => {
    const { code, findings } = await check([samlConnection()], {
      baseUrl: "http://signin.example.org",
    });
    expect(code).toBe(1);
    expect(findings[0]?.connection).toBeUndefined();
    expect(findings[0]?.problem).toBe(
      "baseUrl http://signin.example.org uses http on a host that is not loopback",
    );
    expect(findings[0]?.fix).toContain("Entra accepts http reply URLs only for localhost");
  });

  it("accepts an http baseUrl on loopback", async () => {
    const { code } = await check([samlConnection()], { baseUrl: "http://127.0.0.1:3000" });
    expect(code).toBe(0);
  });

  it("prints JSON for machines", async () => {
    const text: string[] = [];
    const code = await runCheck(config([samlConnection()]), {
      json: true,
      write: (chunk) => text.push(chunk),
    });
    expect(code).toBe(0);
    const result = JSON.parse(text.join("")) as {
      ok: boolean;
      findings: unknown[];
      registrations: Array<{ connection: string; values: Record<string, string> }>;
    };
    expect(result.ok).toBe(true);
    expect(result.findings).toEqual([]);
    expect(result.registrations[0]?.connection).toBe("mercy-saml");
    expect(result.registrations[0]?.values["Logout URL"]).toBe(
      "https://signin.example.org/saml/mercy-saml/slo",
    );
  });
});

describe("check: OpenID Connect", () => {
  function oidcConnection(issuerPath: string, extra: Record<string, unknown> = {}) {
    return {
      id: "mercy-oidc",
      type: "oidc",
      issuer: `${server.origin}${issuerPath}`,
      clientId: "client-1",
      clientSecret: "secret-1",
      ...extra,
    };
  }

  function serveDiscovery(issuerPath: string, issuer: string): void {
    server.routes.set(`${issuerPath}/.well-known/openid-configuration`, {
      body: JSON.stringify({ issuer }),
      contentType: "application/json",
    });
  }

  it("reports a discovery issuer that differs from the configured one", async () => {
    serveDiscovery("/tenant-a/v2.0", "https://sts.windows.net/tenant-a/");
    const { code, findings, text } = await check([oidcConnection("/tenant-a/v2.0")]);
    expect(code).toBe(1);
    expect(findings[0]?.problem).toBe(
      `the discovery document's issuer is https://sts.windows.net/tenant-a/, not the configured issuer ${server.origin}/tenant-a/v2.0`,
    );
    expect(findings[0]?.fix).toContain("Set issuer to https://sts.windows.net/tenant-a/ exactly");
    expect(text).toContain(`Redirect URI: https://signin.example.org/oidc/mercy-oidc/callback`);
  });

  it("reports the tenant template without allowedTenants", async () => {
    serveDiscovery("/common/v2.0", `${server.origin}/{tenantid}/v2.0`);
    const { code, findings } = await check([oidcConnection("/common/v2.0")]);
    expect(code).toBe(1);
    expect(findings.map((finding) => finding.problem)).toContain(
      `issuer ${server.origin}/common/v2.0 accepts users of any tenant, and allowedTenants is empty`,
    );
    expect(findings[0]?.fix).toContain("allowedTenants");
  });

  it("reports a template issuer on a tenant path without allowedTenants", async () => {
    serveDiscovery("/my-tenant/v2.0", `${server.origin}/{tenantid}/v2.0`);
    const { code, findings } = await check([oidcConnection("/my-tenant/v2.0")]);
    expect(code).toBe(1);
    expect(findings[0]?.problem).toBe(
      `the provider's issuer ${server.origin}/{tenantid}/v2.0 is a multi-tenant template, and allowedTenants is empty`,
    );
  });

  it("accepts the tenant template with allowedTenants", async () => {
    serveDiscovery("/common/v2.0", `${server.origin}/{tenantid}/v2.0`);
    const { findings } = await check([
      oidcConnection("/common/v2.0", { allowedTenants: ["tenant-a"] }),
    ]);
    const issuerProblems = findings.filter((finding) =>
      /allowedTenants is empty|not the configured issuer/.test(finding.problem),
    );
    expect(issuerProblems).toEqual([]);
  });

  it("reports a missing discovery document", async () => {
    server.routes.set("/nothing-here/.well-known/openid-configuration", { status: 404, body: "" });
    const { code, findings } = await check([oidcConnection("/nothing-here")]);
    expect(code).toBe(1);
    expect(findings[0]?.problem).toBe(
      `the discovery document ${server.origin}/nothing-here/.well-known/openid-configuration answered HTTP status 404`,
    );
    expect(findings[0]?.fix).toContain(".well-known/openid-configuration");
  });
});

describe("check: SMART", () => {
  function smartConnection(fhirPath: string) {
    return {
      id: "epic",
      type: "smart",
      fhirServers: [`${server.origin}${fhirPath}`],
      clientId: "client-1",
      scopes: ["launch", "openid", "fhirUser"],
    };
  }

  function serveSmartConfiguration(fhirPath: string, document: Record<string, unknown>): void {
    server.routes.set(`${fhirPath}/.well-known/smart-configuration`, {
      body: JSON.stringify(document),
      contentType: "application/json",
    });
  }

  const complete = {
    issuer: "https://ehr.example.test",
    jwks_uri: "https://ehr.example.test/jwks",
    authorization_endpoint: "https://ehr.example.test/authorize",
    token_endpoint: "https://ehr.example.test/token",
  };

  it("reports a configuration without S256", async () => {
    serveSmartConfiguration("/fhir/r4", {
      ...complete,
      code_challenge_methods_supported: ["plain"],
    });
    const { code, findings } = await check([smartConnection("/fhir/r4")]);
    expect(code).toBe(1);
    const [error] = only(findings, "error");
    expect(error?.problem).toBe(
      "the SMART configuration of fhirServers[0] does not list S256 in code_challenge_methods_supported",
    );
    expect(error?.fix).toContain("Enable PKCE with S256");
    const [warning] = only(findings, "warning");
    expect(warning?.problem).toContain("lists the plain PKCE method");
  });

  it("reports a missing smart-configuration", async () => {
    server.routes.set("/fhir/gone/.well-known/smart-configuration", { status: 404, body: "" });
    const { code, findings } = await check([smartConnection("/fhir/gone")]);
    expect(code).toBe(1);
    expect(findings[0]?.problem).toBe(
      `the SMART configuration of fhirServers[0] ${server.origin}/fhir/gone/.well-known/smart-configuration answered HTTP status 404`,
    );
    expect(findings[0]?.fix).toContain("/.well-known/smart-configuration");
  });

  it("reports a configuration without the ID token issuer", async () => {
    const withoutIssuer: Record<string, unknown> = { ...complete };
    delete withoutIssuer.issuer;
    serveSmartConfiguration("/fhir/r4b", {
      ...withoutIssuer,
      code_challenge_methods_supported: ["S256"],
    });
    const { code, findings } = await check([smartConnection("/fhir/r4b")]);
    expect(code).toBe(1);
    expect(findings[0]?.problem).toBe("the SMART configuration of fhirServers[0] has no issuer");
  });
});
