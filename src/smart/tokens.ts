import type Koa from "koa";
import * as client from "openid-client";
import { SignInError } from "../errors.js";
import type { SignIn } from "../http/create-sign-in.js";
import { currentSession } from "../http/routes.js";
import { expiresAtMs } from "../oidc/complete.js";
import { mapGrantError } from "../oidc/errors.js";
import type { SmartConnection } from "./connection.js";

/** An access token is refreshed when it expires within this many milliseconds. */
export const REFRESH_MARGIN_MS = 60_000;

/**
 * Returns a valid SMART access token of the request's session, for in-process code that calls
 * the FHIR server on the user's behalf. When the token expires within a minute it is refreshed
 * with the refresh token and the session is updated. Never send the token to a browser.
 *
 * Throws NOT_SIGNED_IN without a SMART session, and SMART_TOKEN_REFRESH_FAILED when the token
 * expired and no refresh token is stored or the EHR rejects the refresh.
 *
 * NOTE: two concurrent requests of one session may both refresh; with refresh token rotation
 * the later one then fails, and its caller gets SMART_TOKEN_REFRESH_FAILED.
 */
export async function getSmartAccessToken(signIn: SignIn, ctx: Koa.Context): Promise<string> {
  const svc = signIn.services;
  const record = currentSession(ctx, svc);
  const smart = record?.identity.smart;
  if (!record || !smart || !record.tokens?.accessToken) {
    throw new SignInError("NOT_SIGNED_IN", "No SMART session is signed in.");
  }
  const tokens = record.tokens;
  const accessToken = tokens.accessToken as string;
  const now = svc.clock.now();
  if (tokens.accessTokenExpiresAt === undefined || tokens.accessTokenExpiresAt - REFRESH_MARGIN_MS > now) {
    return accessToken;
  }
  const connectionId = record.identity.connection;
  const fail = (reason: string, cause?: unknown) =>
    new SignInError("SMART_TOKEN_REFRESH_FAILED", "The SMART access token expired and could not be refreshed.", {
      connection: connectionId,
      cause,
      logDetails: { reason },
    });
  if (!tokens.refreshToken) throw fail("no refresh token stored");
  const connection = signIn.registry.get(connectionId) as SmartConnection | undefined;
  if (!connection || connection.type !== "smart") throw fail("connection no longer configured");

  const server = await connection.server(connection.allowedServer(smart.fhirBaseUrl));
  const configuration = connection.configuration(server);
  let refreshed: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
  try {
    refreshed = await client.refreshTokenGrant(configuration, tokens.refreshToken);
  } catch (error) {
    throw fail(mapGrantError(error, connectionId).code, error);
  } finally {
    connection.saveKeys(server, configuration);
  }
  // koa-session stores the changed record when the response ends.
  record.tokens = {
    accessToken: refreshed.access_token,
    refreshToken: refreshed.refresh_token ?? tokens.refreshToken,
    scope: refreshed.scope ?? tokens.scope,
    tokenType: refreshed.token_type,
    accessTokenExpiresAt: expiresAtMs(now, refreshed.expires_in),
  };
  return refreshed.access_token;
}
