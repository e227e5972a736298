import type Koa from "koa";
import type { ServiceContext } from "../http/service.js";
import { takeJsonIf } from "../session/store.js";
import type { SamlSettings } from "./settings.js";

/** How long an AuthnRequest or LogoutRequest stays answerable, in milliseconds. */
export const REQUEST_TTL_MS = 10 * 60_000;

/** An AuthnRequest that was sent and has no accepted response yet. */
export interface OutstandingRequest {
  requestId: string;
  returnTo: string;
  /** Random value also kept in this browser's binding cookie. */
  browserBinding: string;
  createdAt: number;
}

export function requestKey(connectionId: string, requestId: string): string {
  return `saml:${connectionId}:authn:${requestId}`;
}

export function logoutRequestKey(connectionId: string, requestId: string): string {
  return `saml:${connectionId}:logout:${requestId}`;
}

function cookieName(settings: SamlSettings): string {
  return `fs_saml_${settings.connectionId}`;
}

/**
 * Returns this browser's binding value for the connection, creating it and setting the signed
 * cookie when absent. The cookie is SameSite=None because the IdP posts the response to the ACS
 * from another site, and browsers leave Lax cookies off such a request.
 */
export function ensureBrowserBinding(
  ctx: Koa.Context,
  svc: ServiceContext,
  settings: SamlSettings,
): string {
  const jar = svc.cookies(ctx);
  const existing = jar.get(cookieName(settings), { signed: true });
  const binding = existing && /^[A-Za-z0-9_-]{16,}$/.test(existing) ? existing : svc.ids.randomId();
  jar.set(cookieName(settings), binding, {
    signed: true,
    httpOnly: true,
    sameSite: "none",
    secure: true,
    path: settings.cookiePath,
    maxAge: REQUEST_TTL_MS,
    overwrite: true,
  });
  return binding;
}

/** Returns this browser's binding value from the signed cookie, or undefined. */
export function readBrowserBinding(
  ctx: Koa.Context,
  svc: ServiceContext,
  settings: SamlSettings,
): string | undefined {
  return svc.cookies(ctx).get(cookieName(settings), { signed: true }) ?? undefined;
}

/** Deletes the binding cookie after a completed sign-in. */
export function clearBrowserBinding(
  ctx: Koa.Context,
  svc: ServiceContext,
  settings: SamlSettings,
): void {
  svc.cookies(ctx).set(cookieName(settings), null, {
    signed: true,
    httpOnly: true,
    sameSite: "none",
    secure: true,
    path: settings.cookiePath,
    overwrite: true,
  });
}

/** Stores an outstanding AuthnRequest. */
export async function saveOutstandingRequest(
  svc: ServiceContext,
  settings: SamlSettings,
  request: OutstandingRequest,
): Promise<void> {
  await svc.store.set(
    requestKey(settings.connectionId, request.requestId),
    JSON.stringify(request),
    REQUEST_TTL_MS,
  );
}

/**
 * Consumes the outstanding request `requestId`: returns it once, and only when it was made in
 * the browser whose binding value is `browserBinding`. Another browser's attempt leaves the
 * entry in place, so it cannot use up the real user's sign-in. One request ID is still
 * accepted at most once.
 */
export async function consumeOutstandingRequest(
  svc: ServiceContext,
  settings: SamlSettings,
  requestId: string,
  browserBinding: string | undefined,
): Promise<OutstandingRequest | undefined> {
  if (browserBinding === undefined) return undefined;
  const request = await takeJsonIf<OutstandingRequest>(
    svc.store,
    requestKey(settings.connectionId, requestId),
    (candidate) => candidate.browserBinding === browserBinding,
  );
  if (!request) return undefined;
  if (svc.clock.now() - request.createdAt >= REQUEST_TTL_MS) return undefined;
  return request;
}
