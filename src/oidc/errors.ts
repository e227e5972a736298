import * as client from "openid-client";
import { SignInError, isSignInError, type ErrorCode } from "../errors.js";

/**
 * Advice for common Microsoft Entra `AADSTS` error codes.
 * Microsoft changes codes and texts, so an unknown code falls back to advice by `error`.
 */
const AADSTS_ADVICE: Record<string, string> = {
  "50011":
    "The redirect URI is not registered on the app. Add this connection's callback URL, exactly as shown (scheme, host, path, case), to the app registration's redirect URIs.",
  "900971": "The app has no reply address. Register this connection's callback URL as a redirect URI.",
  "700016":
    "The application (client) ID was not found in this tenant. Check clientId and the issuer's tenant, and that the app is consented in that tenant.",
  "650056": "The app is misconfigured. Fix its API permissions and grant admin consent.",
  "65005": "The app is misconfigured. Fix its API permissions and grant admin consent.",
  "50105":
    "The user is not assigned to the app. Assign the user or a group to the enterprise application, or turn off 'Assignment required'.",
  "65001": "Nobody consented to the app. An admin grants tenant-wide consent, or the user consents.",
  "90094": "The app needs admin consent. An admin grants consent (or approves it in the admin-consent workflow).",
  "90095": "The app needs admin consent. An admin grants consent (or approves it in the admin-consent workflow).",
  "90102": "A request parameter is not a valid absolute URI. Check baseUrl in the configuration.",
  "900144": "The token request lacks a required parameter. This is a bug in this service; report it.",
  "7000218":
    "The token request carried no client credential. Set clientSecret or privateKeyFile on the connection, or register the app as a public client.",
  "7000215": "The client secret is wrong. Copy the secret's value (not its ID) into clientSecret.",
  "7000222": "The client secret has expired. Create a new secret and update clientSecret.",
  "700027": "The client assertion was not accepted. Upload the certificate of privateKeyFile to the app registration.",
  "50012": "The client credential was not accepted. Check clientSecret or the certificate of privateKeyFile.",
  "50058": "No single sign-on session exists. Sign in again without prompt=none.",
  "50076": "Multi-factor authentication is required. Sign in again and complete it.",
  "50079": "The user must register for multi-factor authentication. Sign in again and register.",
  "50074": "Multi-factor authentication was not completed. Sign in again and complete it.",
  "53003": "Conditional Access blocked the sign-in. A tenant admin reviews the Conditional Access policies.",
  "50020": "The user is from another tenant. Use an account of the right tenant, or invite the user as a guest.",
  "50034": "The user does not exist in this tenant. Use an account of the right tenant, or invite the user.",
  "90072": "The user is from another tenant. Use an account of the right tenant, or invite the user as a guest.",
  "16000": "The account is not in this tenant. Use an account of the right tenant, or invite the user as a guest.",
  "50194":
    "The app is single-tenant but the issuer uses /common. Set issuer to https://login.microsoftonline.com/<tenant-id>/v2.0.",
  "700054": "The app requested an ID token response type that is not enabled. This service uses the code flow.",
  "54005": "The authorization code was already redeemed. Start the sign-in again.",
  "50173": "The refresh grant expired or was revoked. Sign in again.",
  "70008": "The refresh grant expired or was revoked. Sign in again.",
  "700082": "The refresh grant expired or was revoked. Sign in again.",
};

/** Advice by the OAuth 2.0 / OpenID Connect `error` value, used when no AADSTS code matched. */
const ERROR_ADVICE: Record<string, string> = {
  access_denied: "The user or the provider denied the sign-in. Sign in again, or ask an admin to grant access.",
  invalid_client: "The provider rejected the client credentials. Check clientId, clientSecret or privateKeyFile.",
  unauthorized_client: "The app may not use this flow. Allow the authorization code grant in the app registration.",
  invalid_request: "The provider rejected the request. Check the redirect URI and the app registration.",
  invalid_scope: "The provider rejected a scope. Check scopes on the connection against the app registration.",
  invalid_grant: "The authorization code is invalid or expired. Start the sign-in again.",
  login_required: "The provider needs an interactive sign-in. Sign in again without prompt=none.",
  consent_required: "The user or an admin must consent to the app. Grant consent and sign in again.",
  interaction_required: "The provider needs user interaction. Sign in again.",
  server_error: "The provider failed. Retry later.",
  temporarily_unavailable: "The provider is temporarily unavailable. Retry later.",
};

/** Returns the AADSTS code in an Entra `error_description`, such as "50011". */
export function aadstsCode(description: string | undefined): string | undefined {
  return description ? /AADSTS(\d+)/.exec(description)?.[1] : undefined;
}

/** Returns the plain fix for a provider `error` and `error_description`. */
export function adviceForProviderError(error: string, description: string | undefined): string {
  const code = aadstsCode(description);
  return (
    (code ? AADSTS_ADVICE[code] : undefined) ??
    ERROR_ADVICE[error] ??
    "Read the provider's error below and fix the app registration."
  );
}

/** Builds OIDC_PROVIDER_ERROR for an `error` returned to the callback or the token endpoint. */
export function providerError(
  connection: string,
  error: string,
  description: string | undefined,
  where: "authorization" | "token",
): SignInError {
  const shortError = error.slice(0, 64);
  const shortDescription = description?.replace(/[\r\n]+/g, " ").slice(0, 300);
  const code = aadstsCode(description);
  return new SignInError(
    "OIDC_PROVIDER_ERROR",
    `The OpenID provider returned the error "${shortError}" to the ${where} request.`,
    {
      connection,
      fix: adviceForProviderError(error, description),
      providerMessage: shortDescription ? `${shortError}: ${shortDescription}` : shortError,
      logDetails: { providerError: shortError, aadsts: code, where },
    },
  );
}

/** Collects the messages and codes of an error and its causes. */
function errorChain(error: unknown): Array<{ message: string; code?: string; cause?: unknown }> {
  const chain: Array<{ message: string; code?: string; cause?: unknown }> = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    const cause = (current as { cause?: unknown }).cause;
    chain.push({ message: current.message, code: typeof code === "string" ? code : undefined, cause });
    current = cause;
  }
  return chain;
}

function claimOf(cause: unknown): string | undefined {
  if (cause && typeof cause === "object" && "claim" in cause) {
    const claim = (cause as { claim?: unknown }).claim;
    return typeof claim === "string" ? claim : undefined;
  }
  return undefined;
}

const CLAIM_CODES: Record<string, ErrorCode> = {
  iss: "OIDC_ISSUER_MISMATCH",
  aud: "OIDC_AUDIENCE_MISMATCH",
  azp: "OIDC_AUDIENCE_MISMATCH",
  nonce: "OIDC_NONCE_MISMATCH",
};

/**
 * Turns an error thrown by openid-client (authorization response, token exchange, id_token
 * validation) into a coded SignInError. The library's own message goes to the log only.
 */
export function mapGrantError(error: unknown, connection: string): SignInError {
  if (isSignInError(error)) return error;
  if (error instanceof client.AuthorizationResponseError) {
    return providerError(connection, error.error, error.error_description, "authorization");
  }
  if (error instanceof client.ResponseBodyError) {
    return providerError(connection, error.error, error.error_description, "token");
  }
  const chain = errorChain(error);
  const text = chain.map((link) => link.message).join(" / ");
  const codes = new Set(chain.map((link) => link.code));
  const claim = chain.map((link) => claimOf(link.cause)).find((value) => value !== undefined);
  const make = (code: ErrorCode, message: string) =>
    new SignInError(code, message, {
      connection,
      cause: error,
      logDetails: { reason: text.slice(0, 300), claim },
    });

  if (codes.has("OAUTH_JWT_TIMESTAMP_CHECK_FAILED")) {
    return make("OIDC_TOKEN_EXPIRED", "The ID token has expired or is not yet valid.");
  }
  const namedClaim = claim ?? /JWT "(\w+)" \(.*\) claim missing/.exec(text)?.[1];
  if (namedClaim && CLAIM_CODES[namedClaim]) {
    return make(CLAIM_CODES[namedClaim], `The ID token's "${namedClaim}" claim is missing or does not match.`);
  }
  if (/"iss" \(issuer\)/.test(text)) {
    return make("OIDC_ISSUER_MISMATCH", "The authorization response's iss parameter does not match the issuer.");
  }
  if (/"state"/.test(text)) {
    return make("OIDC_STATE_MISMATCH", "The authorization response's state does not match.");
  }
  if (
    codes.has("OAUTH_KEY_SELECTION_FAILED") ||
    /signature verification failed|"alg"|JWS algorithm|unsupported/i.test(text)
  ) {
    return make("OIDC_SIGNATURE_INVALID", "The ID token's signature or algorithm is not accepted.");
  }
  if (codes.has("OAUTH_HTTP_REQUEST_FORBIDDEN") || /fetch failed|timed? ?out|ECONNREFUSED/i.test(text)) {
    return make("OIDC_DISCOVERY_FAILED", "The OpenID provider could not be reached.");
  }
  return make("OIDC_TOKEN_INVALID", "The provider's token response failed validation.");
}
