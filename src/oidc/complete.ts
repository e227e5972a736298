import type Koa from "koa";
import { SignInError } from "../errors.js";
import { measureSignIn } from "../http/outcome.js";
import type { ServiceContext } from "../http/service.js";
import { resetCurrentSession } from "../http/routes.js";
import { startSession, type NewSession } from "../session/session.js";

/**
 * Runs a callback handler with the sign-in metrics and audit events; a failure is re-thrown for
 * the error handler, which renders and logs it.
 */
export function withSignInMetrics(
  ctx: Koa.Context,
  svc: ServiceContext,
  labels: { connection: string; protocol: "oidc" | "smart" },
  handler: () => Promise<void>,
): Promise<void> {
  return measureSignIn(ctx, svc, labels, handler);
}

/** Starts the session (with a fresh session key) and sends the browser to `returnTo`. */
export async function completeSignIn(
  ctx: Koa.Context,
  svc: ServiceContext,
  session: NewSession,
  returnTo: string,
): Promise<void> {
  await startSession(ctx, svc.clock, svc.lifetime, session);
  resetCurrentSession(ctx);
  ctx.set("Cache-Control", "no-store");
  ctx.status = 303;
  ctx.redirect(`${svc.baseUrl}${returnTo}`);
}

/** Milliseconds since the epoch when an access token of `expires_in` seconds expires. */
export function expiresAtMs(now: number, expiresInSeconds: unknown): number | undefined {
  return typeof expiresInSeconds === "number" && Number.isFinite(expiresInSeconds)
    ? now + expiresInSeconds * 1000
    : undefined;
}

/**
 * Rejects an ID token issued later than now plus the clock skew. openid-client 6 checks only
 * that `iat` is a number and not too old, and a token from the future means a wrong clock at
 * the provider or a token minted for later use.
 */
export function rejectFutureIssuedAt(
  claims: { iat?: unknown },
  nowMs: number,
  clockSkewMs: number,
  connection: string,
): void {
  if (typeof claims.iat === "number" && claims.iat * 1000 > nowMs + clockSkewMs) {
    throw new SignInError("OIDC_TOKEN_EXPIRED", "The ID token was issued in the future.", {
      connection,
      logDetails: { iat: claims.iat, now: Math.floor(nowMs / 1000) },
    });
  }
}
