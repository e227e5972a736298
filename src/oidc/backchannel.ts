import { createHash } from "node:crypto";
import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type FetchImplementation,
  type JWTPayload,
} from "jose";
import type Koa from "koa";
import { SignInError, isSignInError } from "../errors.js";
import { readForm } from "../http/form.js";
import { endSessionsEverywhere } from "../http/logout.js";
import type { SessionSelector } from "../session/session-index.js";
import type { OidcConnection } from "./connection.js";
import { ASYMMETRIC_ALGORITHMS, PROVIDER_TIMEOUT_SECONDS } from "./discovery.js";
import { checkTenant } from "./tenant.js";

/** Event type that marks a JWT as an OpenID Connect Back-Channel Logout 1.0 logout token. */
export const BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout";

/** Maximum request body, in bytes. */
export const MAX_BACKCHANNEL_BODY_BYTES = 16 * 1024;

/**
 * Oldest accepted `iat`, in seconds before now (plus the clock skew). The `jti` of a token is
 * remembered at least this long, so an older token cannot be replayed after it was forgotten.
 */
export const LOGOUT_TOKEN_MAX_AGE_SECONDS = 300;

/** `typ` header values accepted: the one the specification recommends, and plain JWTs. */
const ACCEPTED_TYPES = new Set(["logout+jwt", "application/logout+jwt", "jwt"]);

/** Placeholder in Entra's multi-tenant issuer, replaced by the token's `tid`. */
const ENTRA_TENANT_TEMPLATE = "{tenantid}";

const keySets = new WeakMap<
  OidcConnection,
  { jwksUri: string; keys: ReturnType<typeof createRemoteJWKSet> }
>();

/** Returns the connection's remote JWKS, created once per connection and jwks_uri. */
function remoteKeys(connection: OidcConnection, jwksUri: string) {
  const cached = keySets.get(connection);
  if (cached && cached.jwksUri === jwksUri) return cached.keys;
  const fetchImplementation = connection.svc.fetch as FetchImplementation | undefined;
  const keys = createRemoteJWKSet(new URL(jwksUri), {
    timeoutDuration: PROVIDER_TIMEOUT_SECONDS * 1000,
    ...(fetchImplementation ? { [customFetch]: fetchImplementation } : {}),
  });
  keySets.set(connection, { jwksUri, keys });
  return keys;
}

function invalid(connection: OidcConnection, reason: string, cause?: unknown): SignInError {
  return new SignInError("OIDC_LOGOUT_TOKEN_INVALID", "The logout token is invalid.", {
    connection: connection.id,
    cause,
    logDetails: { reason },
  });
}

/**
 * Returns the issuer the token must carry: the discovered issuer, or for Entra's multi-tenant
 * `{tenantid}` template the issuer of the token's `tid`, which must be in `allowedTenants`.
 */
function expectedIssuer(
  connection: OidcConnection,
  discovered: string,
  unverified: JWTPayload,
): string {
  if (!discovered.includes(ENTRA_TENANT_TEMPLATE)) return discovered;
  const tid = unverified.tid;
  if (typeof tid !== "string" || !/^[0-9a-f-]{36}$/i.test(tid)) {
    throw invalid(connection, "issuer template needs a tenant ID (tid), and the token has none");
  }
  try {
    checkTenant({ tid }, connection.config.allowedTenants, connection.id);
  } catch (error) {
    throw invalid(connection, "tenant not in allowedTenants", error);
  }
  return discovered.replace(ENTRA_TENANT_TEMPLATE, tid.toLowerCase());
}

/** Claims of a validated logout token that select the sessions to end. */
export interface LogoutTokenClaims {
  /** The verified `iss`: the issuer whose `sub` and `sid` these are. */
  iss: string;
  sub?: string;
  sid?: string;
  jti: string;
}

/**
 * Validates a logout token as OpenID Connect Back-Channel Logout 1.0 section 2.6 requires:
 * signed with an asymmetric algorithm the provider advertises and a key from its JWKS; `iss`
 * is the provider's issuer, `aud` contains our client ID, `iat` is at most
 * {@link LOGOUT_TOKEN_MAX_AGE_SECONDS} old and not in the future, `exp` (when present) has not
 * passed, `events` contains the back-channel logout event with an object value, `sub` or `sid`
 * is present, and `nonce` is absent. Finally the `jti` is recorded, so the token works once.
 */
export async function validateLogoutToken(
  connection: OidcConnection,
  logoutToken: string,
): Promise<LogoutTokenClaims> {
  const svc = connection.svc;
  const factory = await connection.clientFactory();
  const metadata = factory.serverMetadata;
  const discoveredIssuer = metadata.issuer;
  const jwksUri = metadata.jwks_uri;
  if (typeof discoveredIssuer !== "string" || typeof jwksUri !== "string") {
    throw invalid(connection, "the provider's discovery document has no issuer or jwks_uri");
  }
  const advertised = metadata.id_token_signing_alg_values_supported;
  const algorithms = (Array.isArray(advertised) ? advertised : ["RS256"]).filter(
    (alg): alg is string => typeof alg === "string" && ASYMMETRIC_ALGORITHMS.has(alg),
  );

  let unverified: JWTPayload;
  let typ: unknown;
  try {
    typ = decodeProtectedHeader(logoutToken).typ;
    unverified = decodeJwt(logoutToken);
  } catch (error) {
    throw invalid(connection, "not a JWS compact serialization", error);
  }
  if (typ !== undefined && (typeof typ !== "string" || !ACCEPTED_TYPES.has(typ.toLowerCase()))) {
    throw invalid(connection, "typ header is neither logout+jwt nor JWT");
  }
  const issuer = expectedIssuer(connection, discoveredIssuer, unverified);

  const skewSeconds = Math.round(connection.config.clockSkew / 1000);
  const now = svc.clock.now();
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(logoutToken, remoteKeys(connection, jwksUri), {
      algorithms,
      issuer,
      audience: connection.config.clientId,
      currentDate: new Date(now),
      clockTolerance: skewSeconds,
      maxTokenAge: LOGOUT_TOKEN_MAX_AGE_SECONDS,
      requiredClaims: ["iss", "aud", "iat", "jti", "events"],
    }));
  } catch (error) {
    const reason =
      error instanceof joseErrors.JOSEError ? `${error.code}: ${error.message}` : String(error);
    throw invalid(connection, reason.slice(0, 200), error);
  }

  const events = payload.events;
  const event =
    events !== null && typeof events === "object" && !Array.isArray(events)
      ? (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT]
      : undefined;
  if (event === null || typeof event !== "object" || Array.isArray(event)) {
    throw invalid(connection, "events has no back-channel logout event with an object value");
  }
  if ("nonce" in payload) throw invalid(connection, "a logout token must not contain nonce");
  const sub = typeof payload.sub === "string" && payload.sub !== "" ? payload.sub : undefined;
  const sid =
    typeof payload.sid === "string" && payload.sid !== "" ? (payload.sid as string) : undefined;
  if (sub === undefined && sid === undefined) {
    throw invalid(connection, "the token has neither sub nor sid");
  }
  const jti = payload.jti as string;

  // Remember the jti until the token can no longer pass the time checks above.
  const iatMs = (payload.iat as number) * 1000;
  const expMs = typeof payload.exp === "number" ? payload.exp * 1000 : 0;
  const rememberUntil = Math.max(iatMs + LOGOUT_TOKEN_MAX_AGE_SECONDS * 1000, expMs);
  const ttlMs = Math.max(60_000, rememberUntil + connection.config.clockSkew - now);
  const jtiKey = `oidc-bcl:${connection.id}:${sha256(`${issuer}\n${jti}`)}`;
  if (!(await svc.store.add(jtiKey, "1", ttlMs))) {
    throw invalid(connection, "jti was already used (replay)");
  }
  return {
    iss: issuer,
    jti,
    ...(sub !== undefined ? { sub } : {}),
    ...(sid !== undefined ? { sid } : {}),
  };
}

/**
 * Handles `POST /oidc/:id/backchannel-logout`: validates the `logout_token` form field and ends
 * every session of that `sid` (or, without `sid`, of that `sub`) on this connection, on every
 * instance. Responds 200 on success and 400 `{ "error": "invalid_request" }` on any failure,
 * with the reason in the log only.
 */
export async function handleBackchannelLogout(
  ctx: Koa.Context,
  connection: OidcConnection,
): Promise<void> {
  const svc = connection.svc;
  ctx.set("Cache-Control", "no-store");
  try {
    const form = await readForm(ctx, MAX_BACKCHANNEL_BODY_BYTES);
    const logoutToken = form.get("logout_token");
    if (!logoutToken) throw invalid(connection, "the form has no logout_token");
    const claims = await validateLogoutToken(connection, logoutToken);
    const selector: SessionSelector = { connection: connection.id, issuer: claims.iss };
    if (claims.sid !== undefined) selector.sid = claims.sid;
    if (claims.sub !== undefined) selector.subject = claims.sub;
    const ended = await endSessionsEverywhere(ctx, svc, selector, "backchannel");
    svc.logger.info(
      { connection: connection.id, endedSessions: ended.length },
      "Back-channel logout accepted",
    );
    ctx.status = 200;
    ctx.body = "";
  } catch (error) {
    const code = isSignInError(error) ? error.code : "INTERNAL_ERROR";
    svc.logger.warn(
      {
        code,
        connection: connection.id,
        ...(isSignInError(error) ? error.logDetails : { reason: String(error).slice(0, 200) }),
      },
      "Back-channel logout rejected",
    );
    ctx.status = 400;
    ctx.body = { error: "invalid_request" };
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("base64url");
}
