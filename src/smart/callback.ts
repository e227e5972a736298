import type Koa from "koa";
import * as client from "openid-client";
import { SignInError } from "../errors.js";
import type { SmartContext } from "../identity/identity.js";
import { buildIdentity } from "../identity/map.js";
import { completeSignIn, expiresAtMs, rejectFutureIssuedAt } from "../oidc/complete.js";
import { mapGrantError, providerError } from "../oidc/errors.js";
import { consumeTransaction } from "../oidc/transaction.js";
import type { SmartConnection } from "./connection.js";

const PROTOCOL_CLAIMS = new Set(["nonce", "at_hash", "c_hash", "s_hash"]);

function optionalString(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value.slice(0, 1024) : undefined;
}

/** Reads the SMART launch context that the token response carries next to the tokens. */
export function smartContextOf(
  tokens: Record<string, unknown>,
  fhirBaseUrl: string,
  fhirUser: string | undefined,
  requestedScope: string,
): SmartContext {
  const context: SmartContext = {
    fhirBaseUrl,
    scope: optionalString(tokens.scope) ?? requestedScope,
  };
  const patient = optionalString(tokens.patient);
  const encounter = optionalString(tokens.encounter);
  const styleUrl = optionalString(tokens.smart_style_url);
  const tenant = optionalString(tokens.tenant);
  if (patient) context.patient = patient;
  if (encounter) context.encounter = encounter;
  if (fhirUser) context.fhirUser = fhirUser;
  if (typeof tokens.need_patient_banner === "boolean") {
    context.needPatientBanner = tokens.need_patient_banner;
  }
  if (styleUrl) context.smartStyleUrl = styleUrl;
  if (tenant) context.tenant = tenant;
  return context;
}

/**
 * Handles `/smart/:id/callback`: checks state against this browser's transaction, exchanges
 * the code (PKCE, with the client secret for confidential clients), verifies the ID token
 * against the authorization server's keys, and starts a session carrying the launch context.
 */
export async function handleSmartCallback(
  ctx: Koa.Context,
  connection: SmartConnection,
): Promise<void> {
  const { svc, config } = connection;
  const params = new URLSearchParams(ctx.querystring);
  const state = params.get("state") ?? undefined;
  const transaction = await consumeTransaction(ctx, svc, connection.transactionScope, state);
  const error = params.get("error");
  if (error !== null) {
    throw providerError(
      config.id,
      error,
      params.get("error_description") ?? undefined,
      "authorization",
    );
  }
  const fhirBaseUrl = connection.allowedServer(transaction.fhirBaseUrl ?? "");
  const server = await connection.server(fhirBaseUrl);
  const configuration = connection.configuration(server);
  const currentUrl = new URL(connection.callbackUrl);
  for (const [name, value] of params) currentUrl.searchParams.append(name, value);

  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  try {
    tokens = await client.authorizationCodeGrant(configuration, currentUrl, {
      pkceCodeVerifier: transaction.codeVerifier,
      expectedState: state,
      ...(transaction.nonce ? { expectedNonce: transaction.nonce, idTokenExpected: true } : {}),
    });
  } catch (grantError) {
    throw mapGrantError(grantError, config.id);
  } finally {
    connection.saveKeys(server, configuration);
  }

  const idTokenClaims = tokens.claims();
  const claims: Record<string, unknown> = idTokenClaims
    ? Object.fromEntries(
        Object.entries(idTokenClaims).filter(([name]) => !PROTOCOL_CLAIMS.has(name)),
      )
    : {};
  // SMART v1 servers may send the user as `profile` instead of `fhirUser`.
  const fhirUser = optionalString(claims.fhirUser) ?? optionalString(claims.profile);
  const context = smartContextOf(tokens, fhirBaseUrl, fhirUser, config.scopes.join(" "));
  // A session needs a verified user: the patient in the launch context names the record that
  // was opened, not the user who opened it.
  if (idTokenClaims)
    rejectFutureIssuedAt(idTokenClaims, svc.clock.now(), config.clockSkew, config.id);
  const subject = idTokenClaims?.sub;
  if (!subject) {
    throw new SignInError("OIDC_TOKEN_INVALID", "The SMART token response has no ID token.", {
      connection: config.id,
      fix: "Add openid and fhirUser to scopes on the connection, and enable OpenID Connect for the app at the EHR.",
    });
  }
  const now = svc.clock.now();
  const identity = buildIdentity({
    connection: config.id,
    protocol: "smart",
    issuer: idTokenClaims?.iss ?? String(server.metadata.issuer),
    subject,
    claims,
    claimsConfig: config.claims,
    authenticatedAt: typeof claims.auth_time === "number" ? claims.auth_time * 1000 : now,
    smart: context,
    scopeIdToIssuer: config.fhirServers.length > 1,
  });
  await completeSignIn(
    ctx,
    svc,
    {
      identity,
      ...(tokens.id_token ? { idp: { idToken: tokens.id_token } } : {}),
      tokens: {
        accessToken: tokens.access_token,
        ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
        scope: context.scope,
        tokenType: tokens.token_type,
        accessTokenExpiresAt: expiresAtMs(now, tokens.expires_in),
      },
    },
    transaction.returnTo,
  );
}
