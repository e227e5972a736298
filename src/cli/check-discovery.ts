import type { ParsedOidcConnection, ParsedSmartConnection } from "../config/schema.js";
import {
  checkClockOffset,
  fetchDocument,
  FindingList,
  type CheckContext,
  type FetchedDocument,
} from "./check-support.js";

/** Entra's tenant placeholder in the issuer of its multi-tenant discovery documents. */
const TENANT_TEMPLATE = "{tenantid}";

/** First path segments of issuers that accept users of any Entra tenant. */
const MULTI_TENANT_SEGMENTS = ["common", "organizations", "consumers"];

/** Downloads a JSON document; reports a failure and returns undefined. */
async function fetchJsonObject(
  url: string,
  context: CheckContext,
  findings: FindingList,
  clockSkewMs: number,
  failure: { what: string; fix: string },
): Promise<Record<string, unknown> | undefined> {
  let fetched: FetchedDocument;
  try {
    fetched = await fetchDocument(url, context, "application/json");
  } catch (error) {
    findings.error(
      `fetching ${failure.what} ${url} failed: ${(error as Error).message}`,
      failure.fix,
    );
    return undefined;
  }
  checkClockOffset(findings, url, fetched, clockSkewMs);
  if (fetched.status !== 200) {
    findings.error(`${failure.what} ${url} answered HTTP status ${fetched.status}`, failure.fix);
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(fetched.text);
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    findings.error(`${failure.what} ${url} is not a JSON object`, failure.fix);
    return undefined;
  }
  return parsed as Record<string, unknown>;
}

function tenantSegment(issuer: string): string {
  return new URL(issuer).pathname.split("/")[1] ?? "";
}

/**
 * Checks one OpenID Connect connection: its discovery document is reachable and names the
 * configured issuer (Entra's `{tenantid}` template counts only together with allowedTenants),
 * a multi-tenant issuer has allowedTenants, and the clock agrees with the provider's.
 */
export async function checkOidcConnection(
  conn: ParsedOidcConnection,
  context: CheckContext,
): Promise<FindingList> {
  const findings = new FindingList(conn.id);
  const configured = conn.issuer;
  const hasTenantList = (conn.allowedTenants ?? []).length > 0;
  const tenantFix =
    "List the tenant IDs (GUIDs) whose users may sign in under allowedTenants, or use the issuer of your own tenant (https://login.microsoftonline.com/<tenant id>/v2.0).";
  if (MULTI_TENANT_SEGMENTS.includes(tenantSegment(configured)) && !hasTenantList) {
    findings.error(
      `issuer ${configured} accepts users of any tenant, and allowedTenants is empty`,
      tenantFix,
    );
  }
  const url = `${configured.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  const document = await fetchJsonObject(url, context, findings, conn.clockSkew, {
    what: "the discovery document",
    fix: "Set issuer to the URL whose /.well-known/openid-configuration is the provider's discovery document (Entra: https://login.microsoftonline.com/<tenant id>/v2.0) and check that this host can reach it.",
  });
  if (!document) return findings;

  const discovered = document.issuer;
  if (typeof discovered !== "string") {
    findings.error(
      `the discovery document at ${url} has no issuer`,
      "Point issuer at an OpenID provider; its discovery document must contain an issuer.",
    );
    return findings;
  }
  const exact = discovered === configured || discovered === new URL(configured).href;
  if (exact) return findings;
  if (discovered.includes(TENANT_TEMPLATE)) {
    const resolved = discovered.replace(TENANT_TEMPLATE, tenantSegment(configured));
    if (resolved === configured || resolved === new URL(configured).href) {
      if (!hasTenantList && !findings.hasErrors) {
        findings.error(
          `the provider's issuer ${discovered} is a multi-tenant template, and allowedTenants is empty`,
          tenantFix,
        );
      }
      return findings;
    }
  }
  findings.error(
    `the discovery document's issuer is ${discovered}, not the configured issuer ${configured}`,
    `Set issuer to ${discovered} exactly (Entra: the v2.0 issuer ends in /v2.0; https://sts.windows.net/<tenant id>/ is the v1.0 issuer).`,
  );
  return findings;
}

/**
 * Checks one SMART connection: every FHIR server publishes a smart-configuration with
 * authorization and token endpoints and PKCE S256 (and, when `openid` is requested, an issuer
 * and jwks_uri), and the clock agrees with the server's.
 */
export async function checkSmartConnection(
  conn: ParsedSmartConnection,
  context: CheckContext,
): Promise<FindingList> {
  const findings = new FindingList(conn.id);
  for (const [index, server] of conn.fhirServers.entries()) {
    const key = `fhirServers[${index}]`;
    const url = `${server.replace(/\/+$/, "")}/.well-known/smart-configuration`;
    const document = await fetchJsonObject(url, context, findings, conn.clockSkew, {
      what: `the SMART configuration of ${key}`,
      fix: `Check ${key}: it must be the FHIR base URL (Epic: …/api/FHIR/R4), and the server must publish /.well-known/smart-configuration (SMART App Launch 2.0).`,
    });
    if (!document) continue;
    const methods = document.code_challenge_methods_supported;
    const list = Array.isArray(methods) ? methods.filter((item) => typeof item === "string") : [];
    if (!list.includes("S256")) {
      findings.error(
        `the SMART configuration of ${key} does not list S256 in code_challenge_methods_supported`,
        "Enable PKCE with S256 on the EHR's authorization server (SMART App Launch 2.0 requires it); this service always sends code_challenge_method=S256.",
      );
    }
    if (list.includes("plain")) {
      findings.warning(
        `the SMART configuration of ${key} lists the plain PKCE method`,
        "Ask the EHR to disable plain PKCE; SMART App Launch 2.0 forbids it.",
      );
    }
    const required = ["authorization_endpoint", "token_endpoint"];
    if (conn.scopes.includes("openid")) required.push("issuer", "jwks_uri");
    for (const name of required) {
      if (typeof document[name] !== "string") {
        findings.error(
          `the SMART configuration of ${key} has no ${name}`,
          name === "issuer" || name === "jwks_uri"
            ? "Ask the EHR to publish issuer and jwks_uri, or remove openid from scopes."
            : `Check ${key}: the server must publish its OAuth endpoints in its smart-configuration.`,
        );
      }
    }
  }
  return findings;
}
