import type Koa from "koa";
import session from "koa-session";
import type { Clock, IdGenerator } from "../clock.js";
import type { Identity } from "../identity/identity.js";
import {
  SESSION_KEY_PREFIX,
  endSessionKey,
  isSessionEnded,
  registerSession,
  type SessionIndexContext,
} from "./session-index.js";
import { getJson, type Store } from "./store.js";

/** Data a protocol module needs to end the session at the IdP later (SAML SLO, OIDC logout). */
export interface IdpSessionInfo {
  /** SAML NameID, its Format and SessionIndex, for a LogoutRequest. */
  nameId?: string;
  nameIdFormat?: string;
  nameQualifier?: string;
  spNameQualifier?: string;
  sessionIndex?: string;
  /** OIDC id_token, kept server-side as `id_token_hint` for RP-initiated logout. */
  idToken?: string;
  /** OIDC `sid` claim. */
  sid?: string;
}

/** Tokens kept server-side only; they never reach `/session`, `/auth`, cookies or logs. */
export interface ServerSideTokens {
  accessToken?: string;
  refreshToken?: string;
  /** Milliseconds since the epoch. */
  accessTokenExpiresAt?: number;
  scope?: string;
  tokenType?: string;
}

/** Contents of a signed-in session as stored server-side. */
export interface SessionRecord {
  identity: Identity;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Absolute end: the earlier of createdAt + maxAge and the IdP's own limit. */
  expiresAt: number;
  /** Last request seen, for the idle timeout; written at most every `touchIntervalMs`. */
  lastSeenAt: number;
  idp?: IdpSessionInfo;
  tokens?: ServerSideTokens;
}

/** Session lifetime settings, in milliseconds. */
export interface SessionLifetime {
  maxAgeMs: number;
  idleTimeoutMs: number;
}

/**
 * Key in `ctx.state` of the cookie jar signed with the session keys. The mount middleware sets
 * it, because the host app's own `ctx.cookies` may use other keys or none.
 */
export const SESSION_COOKIE_JAR = Symbol("federated-signin.session-cookies");

/** Minimum time between idle-timer writes, so `/auth` does not write the store on every call. */
export function touchIntervalMs(idleTimeoutMs: number): number {
  return Math.min(60_000, Math.max(1_000, Math.floor(idleTimeoutMs / 10)));
}

/** Milliseconds the stored record may live: until the absolute end or the idle end. */
export function remainingLifetimeMs(
  record: SessionRecord,
  lifetime: SessionLifetime,
  now: number,
): number {
  return Math.min(record.expiresAt, record.lastSeenAt + lifetime.idleTimeoutMs) - now;
}

/** Options for {@link createSessionMiddleware}. */
export interface SessionMiddlewareOptions {
  store: Store;
  clock: Clock;
  ids: IdGenerator;
  lifetime: SessionLifetime;
  cookieName: string;
  /** Sets the cookie's Secure attribute; true when `baseUrl` is https. */
  secureCookie: boolean;
}

/**
 * Creates koa-session middleware backed by our {@link Store}. The cookie holds only a random
 * session key (signed with the configured keys); the record lives server-side with a TTL equal
 * to its remaining lifetime. The cookie is a browser-session cookie: lifetime is enforced on
 * the server, with the injected clock, by {@link readSession}.
 *
 * The first write of a session adds it to the session index (see `session-index.ts`), because
 * only then is its key known. Later writes only replace an existing record, so a request that
 * read the session before another instance ended it cannot store it again.
 */
export function createSessionMiddleware(app: Koa, options: SessionMiddlewareOptions): Koa.Middleware {
  const { store, clock, lifetime } = options;
  return session(
    {
      key: options.cookieName,
      maxAge: "session",
      httpOnly: true,
      signed: true,
      sameSite: "lax",
      secure: options.secureCookie,
      rolling: false,
      renew: false,
      genid: () => options.ids.randomId(),
      store: {
        async get(key: string) {
          const text = await store.get(SESSION_KEY_PREFIX + key);
          return text === undefined ? undefined : JSON.parse(text);
        },
        async set(key: string, data: Record<string, unknown>) {
          const record = data as unknown as Partial<SessionRecord>;
          if (!record.identity || record.expiresAt === undefined || record.lastSeenAt === undefined) {
            return;
          }
          const ttlMs = remainingLifetimeMs(record as SessionRecord, lifetime, clock.now());
          if (ttlMs <= 0) {
            await store.delete(SESSION_KEY_PREFIX + key);
            return;
          }
          const value = JSON.stringify(data);
          if (store.replace && (await store.replace(SESSION_KEY_PREFIX + key, value, ttlMs))) {
            return;
          }
          if (await isSessionEnded(store, key)) return;
          await store.set(SESSION_KEY_PREFIX + key, value, ttlMs);
          await registerSession(store, key, record as SessionRecord, clock.now());
        },
        async destroy(key: string) {
          const record = await getJson<SessionRecord>(store, SESSION_KEY_PREFIX + key);
          await endSessionKey({ store, clock, lifetime }, key, record);
        },
      },
    },
    app,
  ) as Koa.Middleware;
}

/**
 * Reads the current session: returns the record when it is signed in and within both its
 * absolute and idle lifetime. Ends an expired session. Refreshes the idle timer at most every
 * {@link touchIntervalMs}.
 */
export function readSession(
  ctx: Koa.Context,
  clock: Clock,
  lifetime: SessionLifetime,
): SessionRecord | undefined {
  const data = ctx.session as unknown as Partial<SessionRecord> | null;
  if (!data || !data.identity || data.expiresAt === undefined || data.lastSeenAt === undefined) {
    return undefined;
  }
  const now = clock.now();
  if (now >= data.expiresAt || now - data.lastSeenAt >= lifetime.idleTimeoutMs) {
    ctx.session = null;
    return undefined;
  }
  if (now - data.lastSeenAt >= touchIntervalMs(lifetime.idleTimeoutMs)) {
    data.lastSeenAt = now;
  }
  return data as SessionRecord;
}

/**
 * Ends the request's signed-in session at once: marks it ended, deletes its record and removes
 * it from the session index. The cookie is cleared when the response is sent.
 */
export async function endCurrentSession(
  ctx: Koa.Context,
  context: SessionIndexContext,
  record: SessionRecord,
): Promise<void> {
  const key = (ctx.session as unknown as { externalKey?: string } | null)?.externalKey;
  if (key) await endSessionKey(context, key, record);
  ctx.session = null;
}

/** Input of {@link startSession}. */
export interface NewSession {
  identity: Identity;
  /** The IdP's own limit (SAML SessionNotOnOrAfter), milliseconds since the epoch. */
  idpSessionNotOnOrAfter?: number;
  idp?: IdpSessionInfo;
  tokens?: ServerSideTokens;
}

/**
 * Replaces any current session by a new one with a fresh session key (so a key planted
 * before sign-in is worthless afterwards) and returns its record.
 */
export async function startSession(
  ctx: Koa.Context,
  clock: Clock,
  lifetime: SessionLifetime,
  input: NewSession,
): Promise<SessionRecord> {
  const now = clock.now();
  const expiresAt = Math.min(
    now + lifetime.maxAgeMs,
    input.idpSessionNotOnOrAfter ?? Number.POSITIVE_INFINITY,
  );
  const record: SessionRecord = {
    identity: input.identity,
    createdAt: now,
    expiresAt,
    lastSeenAt: now,
  };
  if (input.idp) record.idp = input.idp;
  if (input.tokens) record.tokens = input.tokens;

  const current = ctx.session;
  if (current) {
    for (const key of Object.keys(current.toJSON())) delete (current as unknown as Record<string, unknown>)[key];
    Object.assign(current, record);
    // regenerate() writes the new session cookie at once, so it must use the jar signed with
    // our keys even when this runs inside the host app's middleware.
    const jar = (ctx.state as Record<symbol, Koa.Context["cookies"] | undefined>)[SESSION_COOKIE_JAR];
    const previous = ctx.cookies;
    if (jar) ctx.cookies = jar;
    try {
      await current.regenerate();
    } finally {
      ctx.cookies = previous;
    }
  }
  return record;
}
