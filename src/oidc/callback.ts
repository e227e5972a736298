import type Koa from "koa";
import * as client from "openid-client";
import { SignInError } from "../errors.js";
import { readForm } from "../http/form.js";
import { buildIdentity } from "../identity/map.js";
import type { OidcConnection } from "./connection.js";
import { completeSignIn, expiresAtMs, rejectFutureIssuedAt } from "./complete.js";
import { mapGrantError, providerError } from "./errors.js";
import { checkTenant } from "./tenant.js";
import { consumeTransaction } from "./transaction.js";

/** Largest accepted form_post body, in bytes; an Entra response is a few kilobytes. */
export const MAX_CALLBACK_BODY_BYTES = 64 * 1024;

/** Claims that only served the protocol and are not kept in the identity. */
const PROTOCOL_CLAIMS = new Set(["nonce", "at_hash", "c_hash", "s_hash"]);

/**
 * Reads the authorization response from the query (`response_mode=query`) or the form body
 * (`form_post`). A response in the other mode is rejected, so a link cannot stand in for the
 * provider's form post.
 */
export async function readAuthorizationResponse(
  ctx: Koa.Context,
  expectFormPost: boolean,
  connection: string,
): Promise<URLSearchParams> {
  const isPost = ctx.method === "POST";
  if (isPost !== expectFormPost) {
    throw new SignInError(
      "BAD_REQUEST",
      `The authorization response must arrive by ${expectFormPost ? "form post" : "query string"}.`,
      { connection, fix: "Start the sign-in again from this application's sign-in page." },
    );
  }
  return isPost ? readForm(ctx, MAX_CALLBACK_BODY_BYTES) : new URLSearchParams(ctx.querystring);
}

/**
 * Handles `/oidc/:id/callback`: checks state against this browser's transaction, turns a
 * provider error into OIDC_PROVIDER_ERROR, exchanges the code with the PKCE verifier, lets
 * openid-client validate the response and ID token, checks the tenant, then starts the session.
 */
export async function handleOidcCallback(
  ctx: Koa.Context,
  connection: OidcConnection,
): Promise<void> {
  const { svc, config } = connection;
  const params = await readAuthorizationResponse(
    ctx,
    config.responseMode === "form_post",
    config.id,
  );
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

  const factory = await connection.clientFactory();
  const configuration = await factory.create();
  const currentUrl = new URL(connection.callbackUrl);
  for (const [name, value] of params) currentUrl.searchParams.append(name, value);

  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  try {
    tokens = await client.authorizationCodeGrant(configuration, currentUrl, {
      pkceCodeVerifier: transaction.codeVerifier,
      expectedState: state,
      expectedNonce: transaction.nonce,
      idTokenExpected: true,
    });
  } catch (grantError) {
    throw mapGrantError(grantError, config.id);
  } finally {
    factory.saveKeys(configuration);
  }

  const idTokenClaims = tokens.claims();
  if (!idTokenClaims || !tokens.id_token) {
    throw new SignInError("OIDC_TOKEN_INVALID", "The token response has no ID token.", {
      connection: config.id,
    });
  }
  rejectFutureIssuedAt(idTokenClaims, connection.svc.clock.now(), config.clockSkew, config.id);
  const claims = Object.fromEntries(
    Object.entries(idTokenClaims).filter(([name]) => !PROTOCOL_CLAIMS.has(name)),
  );
  checkTenant(claims, config.allowedTenants, config.id);

  const now = svc.clock.now();
  const authTime = typeof claims.auth_time === "number" ? claims.auth_time * 1000 : now;
  const identity = buildIdentity({
    connection: config.id,
    protocol: "oidc",
    issuer: idTokenClaims.iss,
    subject: idTokenClaims.sub,
    claims,
    claimsConfig: config.claims,
    authenticatedAt: authTime,
  });
  await completeSignIn(
    ctx,
    svc,
    {
      identity,
      idp: {
        idToken: tokens.id_token,
        ...(typeof claims.sid === "string" ? { sid: claims.sid } : {}),
      },
      tokens: {
        accessToken: tokens.access_token,
        ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
        ...(tokens.scope ? { scope: tokens.scope } : {}),
        tokenType: tokens.token_type,
        accessTokenExpiresAt: expiresAtMs(now, tokens.expires_in),
      },
    },
    transaction.returnTo,
  );
}
