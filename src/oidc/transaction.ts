import type Koa from "koa";
import { SignInError } from "../errors.js";
import type { ServiceContext } from "../http/service.js";
import { takeJsonIf } from "../session/store.js";

/** Lifetime of an outstanding authorization request, in milliseconds. */
export const TRANSACTION_TTL_MS = 10 * 60_000;

/** Server-side record of one outstanding authorization request, keyed by its `state`. */
export interface Transaction {
  connection: string;
  /** Random value also held in this browser's signed binding cookie. */
  browserBinding: string;
  codeVerifier: string;
  /** Absent when no id_token is requested (SMART without `openid`). */
  nonce?: string;
  returnTo: string;
  /** Milliseconds since the epoch, by the service clock. */
  expiresAt: number;
  /** SMART: the FHIR base URL the launch was for. */
  fhirBaseUrl?: string;
}

/** Store key and binding cookie settings of one protocol's transactions. */
export interface TransactionScope {
  /** "oidc" or "smart": part of the store key and the cookie name. */
  protocol: "oidc" | "smart";
  connection: string;
  /** Path the binding cookie is limited to, such as `/oidc/mercy`. */
  cookiePath: string;
  /**
   * True for `response_mode=form_post`: the callback is a cross-site POST, so the cookie must
   * be SameSite=None (which browsers accept only with Secure).
   */
  crossSitePost: boolean;
}

function storeKey(scope: TransactionScope, state: string): string {
  return `${scope.protocol}-tx:${scope.connection}:${state}`;
}

function cookieName(scope: TransactionScope): string {
  return `fs_${scope.protocol}_tx`;
}

/** Path of `baseUrl` (without a trailing slash) followed by `path`. */
export function pathUnderBase(baseUrl: string, path: string): string {
  return `${new URL(baseUrl).pathname.replace(/\/+$/, "")}${path}`;
}

/**
 * Stores a new transaction under a fresh `state` and binds it to this browser with a signed,
 * HttpOnly cookie limited to the connection's path. Returns the `state`.
 */
export async function beginTransaction(
  ctx: Koa.Context,
  svc: ServiceContext,
  scope: TransactionScope,
  fields: Omit<Transaction, "connection" | "browserBinding" | "expiresAt">,
): Promise<string> {
  const jar = svc.cookies(ctx);
  const name = cookieName(scope);
  // Reuse this browser's binding value, so sign-ins started in two tabs both complete.
  const existing = jar.get(name, { signed: true });
  const browserBinding = existing && existing.length >= 32 ? existing : svc.ids.randomId();
  const state = svc.ids.randomId();
  const transaction: Transaction = {
    ...fields,
    connection: scope.connection,
    browserBinding,
    expiresAt: svc.clock.now() + TRANSACTION_TTL_MS,
  };
  await svc.store.set(storeKey(scope, state), JSON.stringify(transaction), TRANSACTION_TTL_MS);
  jar.set(name, browserBinding, {
    signed: true,
    httpOnly: true,
    path: scope.cookiePath,
    maxAge: TRANSACTION_TTL_MS,
    ...(scope.crossSitePost
      ? { sameSite: "none" as const, secure: true }
      : { sameSite: "lax" as const, secure: svc.baseUrl.startsWith("https:") }),
  });
  return state;
}

/**
 * Consumes the transaction of `state` (once: the store's `take` is atomic) and checks that it
 * was started by this browser and has not expired. Throws OIDC_STATE_MISMATCH otherwise.
 */
export async function consumeTransaction(
  ctx: Koa.Context,
  svc: ServiceContext,
  scope: TransactionScope,
  state: string | undefined,
): Promise<Transaction> {
  const reject = (reason: string) =>
    new SignInError(
      "OIDC_STATE_MISMATCH",
      "The sign-in response does not match a sign-in started in this browser.",
      {
        connection: scope.connection,
        logDetails: { reason },
      },
    );
  if (!state || state.length > 256) throw reject(state ? "state too long" : "state missing");
  const binding = svc.cookies(ctx).get(cookieName(scope), { signed: true });
  if (!binding) throw reject("binding cookie missing");
  // The transaction is deleted only by the browser that started it, so a request that presents
  // a state seen elsewhere (Referer, logs) cannot use up the real user's sign-in.
  const transaction = await takeJsonIf<Transaction>(
    svc.store,
    storeKey(scope, state),
    (candidate) => candidate.browserBinding === binding,
  );
  if (!transaction) {
    throw reject("state unknown, expired, already used, or started in another browser");
  }
  if (transaction.connection !== scope.connection) throw reject("state of another connection");
  if (svc.clock.now() >= transaction.expiresAt) throw reject("transaction expired");
  return transaction;
}
