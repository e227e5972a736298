import * as client from "openid-client";
import { isLoopbackUrl } from "../config/load.js";
import { SignInError } from "../errors.js";
import { PROVIDER_TIMEOUT_SECONDS, restrictSigningAlgorithms } from "../oidc/discovery.js";

/** Largest accepted smart-configuration document, in bytes. */
const MAX_DOCUMENT_BYTES = 256 * 1024;

/** The endpoints of one FHIR server's authorization server, from its smart-configuration. */
export interface SmartServer {
  fhirBaseUrl: string;
  /** Authorization server metadata for openid-client; `issuer` is the ID token issuer. */
  metadata: client.ServerMetadata;
  allowInsecure: boolean;
}

/** Removes trailing slashes, so `https://ehr/fhir/` and `https://ehr/fhir` are one server. */
export function normalizeFhirBase(url: string): string {
  return url.replace(/\/+$/, "");
}

function failed(fhirBaseUrl: string, reason: string, cause?: unknown): SignInError {
  return new SignInError(
    "SMART_DISCOVERY_FAILED",
    `The SMART configuration of ${fhirBaseUrl} could not be used: ${reason}.`,
    { cause, logDetails: { fhirBaseUrl, reason } },
  );
}

function requireUrl(
  document: Record<string, unknown>,
  name: string,
  fhirBaseUrl: string,
  allowInsecure: boolean,
): string {
  const value = document[name];
  if (typeof value !== "string") throw failed(fhirBaseUrl, `${name} is missing`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw failed(fhirBaseUrl, `${name} is not a URL`);
  }
  if (url.protocol !== "https:" && !(allowInsecure && isLoopbackUrl(value))) {
    throw failed(fhirBaseUrl, `${name} must use https`);
  }
  return value;
}

/**
 * Fetches `{fhirBaseUrl}/.well-known/smart-configuration` and checks it: the authorization and
 * token endpoints are present, PKCE S256 is supported, and with `openid` the ID token `issuer`
 * and `jwks_uri` are present. Epic's ID token issuer is its OAuth base, not the FHIR base, so
 * the issuer comes from this document, never from the launch's `iss` parameter.
 */
export async function discoverSmartServer(fhirBaseUrl: string, wantsIdToken: boolean): Promise<SmartServer> {
  const allowInsecure = fhirBaseUrl.startsWith("http:") && isLoopbackUrl(fhirBaseUrl);
  let document: Record<string, unknown>;
  try {
    const response = await fetch(`${fhirBaseUrl}/.well-known/smart-configuration`, {
      headers: { accept: "application/json" },
      redirect: "error",
      signal: AbortSignal.timeout(PROVIDER_TIMEOUT_SECONDS * 1000),
    });
    if (response.status !== 200) throw failed(fhirBaseUrl, `HTTP status ${response.status}`);
    const text = await response.text();
    if (text.length > MAX_DOCUMENT_BYTES) throw failed(fhirBaseUrl, "document too large");
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw failed(fhirBaseUrl, "document is not a JSON object");
    }
    document = parsed as Record<string, unknown>;
  } catch (error) {
    if (error instanceof SignInError) throw error;
    throw failed(fhirBaseUrl, (error as Error).message, error);
  }

  const methods = document.code_challenge_methods_supported;
  if (!Array.isArray(methods) || !methods.includes("S256")) {
    throw failed(fhirBaseUrl, "code_challenge_methods_supported does not include S256");
  }
  const metadata: { -readonly [K in keyof client.ServerMetadata]: client.ServerMetadata[K] } = {
    issuer:
      typeof document.issuer === "string" ? document.issuer : normalizeFhirBase(fhirBaseUrl),
    authorization_endpoint: requireUrl(document, "authorization_endpoint", fhirBaseUrl, allowInsecure),
    token_endpoint: requireUrl(document, "token_endpoint", fhirBaseUrl, allowInsecure),
  };
  // RFC 7009 revocation, used at logout. A malformed value is dropped, not fatal.
  if (typeof document.revocation_endpoint === "string") {
    try {
      metadata.revocation_endpoint = requireUrl(
        document,
        "revocation_endpoint",
        fhirBaseUrl,
        allowInsecure,
      );
    } catch {
      // Logout then skips revocation, as for a server that advertises none.
    }
  }
  if (wantsIdToken) {
    if (typeof document.issuer !== "string") throw failed(fhirBaseUrl, "issuer is missing");
    metadata.jwks_uri = requireUrl(document, "jwks_uri", fhirBaseUrl, allowInsecure);
    try {
      metadata.id_token_signing_alg_values_supported = restrictSigningAlgorithms(
        document,
        document.issuer,
      );
    } catch (error) {
      throw failed(fhirBaseUrl, "no asymmetric ID token signing algorithm", error);
    }
  }
  return { fhirBaseUrl, metadata, allowInsecure };
}
