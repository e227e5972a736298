import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type Koa from "koa";
import * as client from "openid-client";
import { SignInError } from "../errors.js";
import type { SignIn } from "../http/create-sign-in.js";
import { currentSession } from "../http/routes.js";
import type { ServiceContext } from "../http/service.js";
import { expiresAtMs } from "../oidc/complete.js";
import { PROVIDER_TIMEOUT_SECONDS } from "../oidc/discovery.js";
import { mapGrantError } from "../oidc/errors.js";
import type { ServerSideTokens } from "../session/session.js";
import { getJson } from "../session/store.js";
import type { SmartConnection } from "./connection.js";

/** An access token is refreshed when it expires within this many milliseconds. */
export const REFRESH_MARGIN_MS = 60_000;

/** Lifetime of the refresh lock, in milliseconds: longer than one token request may take. */
export const REFRESH_LOCK_TTL_MS = (PROVIDER_TIMEOUT_SECONDS + 5) * 1000;

/**
 * Time the refreshed tokens stay in the store for requests that read the session before the
 * refresh, in milliseconds.
 */
export const REFRESH_RESULT_TTL_MS = 60_000;

/** Interval between two reads of the store while another request refreshes, in milliseconds. */
const REFRESH_POLL_MS = 50;

/**
 * Returns a valid SMART access token of the request's session, for in-process code that calls
 * the FHIR server on the user's behalf. When the token expires within a minute it is refreshed
 * with the refresh token and the session is updated. Never send the token to a browser.
 *
 * Concurrent requests of one session send one refresh grant, also on several instances that
 * share a store. The first request takes a lock in the store, and the others wait for its
 * result and use the same new tokens, so refresh token rotation does not fail them.
 *
 * Throws NOT_SIGNED_IN without a SMART session, and SMART_TOKEN_REFRESH_FAILED when the token
 * expired and no refresh token is stored, the EHR rejects the refresh, or a concurrent refresh
 * did not finish within {@link REFRESH_LOCK_TTL_MS}.
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
  if (
    tokens.accessTokenExpiresAt === undefined ||
    tokens.accessTokenExpiresAt - REFRESH_MARGIN_MS > now
  ) {
    return accessToken;
  }
  const connectionId = record.identity.connection;
  const fail = (reason: string, cause?: unknown) =>
    new SignInError(
      "SMART_TOKEN_REFRESH_FAILED",
      "The SMART access token expired and could not be refreshed.",
      { connection: connectionId, cause, logDetails: { reason } },
    );
  if (!tokens.refreshToken) throw fail("no refresh token stored");
  const connection = signIn.registry.get(connectionId) as SmartConnection | undefined;
  if (!connection || connection.type !== "smart") throw fail("connection no longer configured");

  const refresh = async (): Promise<ServerSideTokens> => {
    const server = await connection.server(connection.allowedServer(smart.fhirBaseUrl));
    const configuration = connection.configuration(server);
    let refreshed: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
    try {
      refreshed = await client.refreshTokenGrant(configuration, tokens.refreshToken as string);
    } catch (error) {
      throw fail(mapGrantError(error, connectionId).code, error);
    } finally {
      connection.saveKeys(server, configuration);
    }
    return {
      accessToken: refreshed.access_token,
      refreshToken: refreshed.refresh_token ?? tokens.refreshToken,
      scope: refreshed.scope ?? tokens.scope,
      tokenType: refreshed.token_type,
      accessTokenExpiresAt: expiresAtMs(svc.clock.now(), refreshed.expires_in),
    };
  };
  const grantKey = `${connectionId}:${sha256(tokens.refreshToken)}`;
  const newTokens = await refreshOnce(svc, grantKey, refresh, () =>
    fail("timed out waiting for a concurrent refresh"),
  );
  // koa-session stores the changed record when the response ends.
  record.tokens = newTokens;
  return newTokens.accessToken as string;
}

/**
 * Runs `refresh` in one request per refresh token: the request that adds the lock key refreshes
 * and stores the new tokens under the result key. The others reread the result key until it
 * appears, and take over the lock when its holder fails without a result.
 *
 * NOTE: tests cover the shared result only. The takeover after a failed holder and the wait
 * timeout have no test.
 */
async function refreshOnce(
  svc: ServiceContext,
  grantKey: string,
  refresh: () => Promise<ServerSideTokens>,
  timedOut: () => SignInError,
): Promise<ServerSideTokens> {
  const lockKey = `smart-refresh-lock:${grantKey}`;
  const resultKey = `smart-refresh-result:${grantKey}`;
  // Counting polls keeps the wait independent of the injected clock, which tests may freeze.
  const maxPolls = Math.ceil(REFRESH_LOCK_TTL_MS / REFRESH_POLL_MS);
  for (let poll = 0; poll <= maxPolls; poll += 1) {
    const shared = await getJson<ServerSideTokens>(svc.store, resultKey);
    if (shared) return shared;
    if (await svc.store.add(lockKey, "locked", REFRESH_LOCK_TTL_MS)) {
      try {
        const refreshed = await refresh();
        await svc.store.set(resultKey, JSON.stringify(refreshed), REFRESH_RESULT_TTL_MS);
        return refreshed;
      } finally {
        await svc.store.delete(lockKey);
      }
    }
    await sleep(REFRESH_POLL_MS);
  }
  throw timedOut();
}

/** Returns the base64url SHA-256 of a token, so store keys never contain the token itself. */
function sha256(text: string): string {
  return createHash("sha256").update(text).digest("base64url");
}
