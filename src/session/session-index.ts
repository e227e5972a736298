import { createHash } from "node:crypto";
import type { SessionRecord } from "./session.js";
import { getJson, type Store } from "./store.js";

/**
 * Index of signed-in sessions by who they belong to at the IdP, kept in the shared store, so a
 * logout that arrives at one instance ends the user's sessions on every instance.
 *
 * Each session key is a member of up to three sets, all under its connection:
 *
 * - `sidx:{connection}:sub:{hash}`: the protocol subject. For SAML that is the NameID, for OIDC
 *   and SMART the ID token's `sub` (the SMART patient when no ID token was requested).
 * - `sidx:{connection}:saml-si:{hash}`: SAML NameID together with the SessionIndex.
 * - `sidx:{connection}:sid:{hash}`: the OIDC `sid` claim.
 *
 * Key names carry a SHA-256 of the value, so neither NameIDs nor e-mail addresses appear in
 * key names. The index needs the optional set methods of {@link Store}. With a store that lacks
 * them, sessions are not indexed and only the browser that logs out is signed out.
 */

/** Prefix of the koa-session records in the store. */
export const SESSION_KEY_PREFIX = "sess:";
/** Prefix of the marker that a session was ended, which stops a late write from reviving it. */
export const ENDED_KEY_PREFIX = "sess-ended:";

/** Selector of the sessions to end, all in one connection. */
export interface SessionSelector {
  connection: string;
  /** SAML NameID, or OIDC/SMART `sub`. */
  subject?: string;
  /** SAML SessionIndex, used together with `subject`. */
  sessionIndex?: string;
  /** OIDC `sid`. When set, `subject` (if given) must also match the session. */
  sid?: string;
  /**
   * Issuer of `subject`, for OIDC and SMART: one SMART connection may trust several EHRs, and
   * the same `sub` at two of them names two users.
   */
  issuer?: string;
}

/** Store, clock and lifetime that ending sessions needs. */
export interface SessionIndexContext {
  store: Store;
  clock: { now(): number };
  lifetime: { maxAgeMs: number };
}

function hashOf(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("base64url");
}

function subjectKey(connection: string, subject: string, issuer?: string): string {
  return `sidx:${connection}:sub:${hashOf(issuer === undefined ? subject : `${issuer}\n${subject}`)}`;
}

function samlSessionKey(connection: string, nameId: string, sessionIndex: string): string {
  return `sidx:${connection}:saml-si:${hashOf(`${nameId}\n${sessionIndex}`)}`;
}

function sidKey(connection: string, sid: string): string {
  return `sidx:${connection}:sid:${hashOf(sid)}`;
}

/**
 * Returns the subject that the IdP uses for the session's user: the SAML NameID, or the `sub`
 * claim of OIDC and SMART. It can differ from `identity.subject`, which a claim mapping may set.
 */
export function protocolSubject(record: SessionRecord): string {
  const identity = record.identity;
  if (identity.protocol === "saml") return record.idp?.nameId ?? identity.subject;
  const sub = identity.claims.sub;
  return typeof sub === "string" ? sub : identity.subject;
}

/** Returns the index keys a session is a member of. */
export function indexKeysOf(record: SessionRecord): string[] {
  const connection = record.identity.connection;
  const subject = protocolSubject(record);
  const issuer = record.identity.protocol === "saml" ? undefined : record.identity.issuer;
  const keys = [subjectKey(connection, subject, issuer)];
  const idp = record.idp;
  if (record.identity.protocol === "saml" && idp?.sessionIndex) {
    keys.push(samlSessionKey(connection, subject, idp.sessionIndex));
  }
  if (idp?.sid) keys.push(sidKey(connection, idp.sid));
  return keys;
}

function selectorKey(selector: SessionSelector): string | undefined {
  if (selector.sid !== undefined) return sidKey(selector.connection, selector.sid);
  if (selector.subject === undefined) return undefined;
  if (selector.sessionIndex !== undefined) {
    return samlSessionKey(selector.connection, selector.subject, selector.sessionIndex);
  }
  return subjectKey(selector.connection, selector.subject, selector.issuer);
}

function matches(record: SessionRecord, selector: SessionSelector): boolean {
  if (record.identity.connection !== selector.connection) return false;
  if (selector.subject !== undefined && protocolSubject(record) !== selector.subject) return false;
  if (selector.issuer !== undefined && record.identity.issuer !== selector.issuer) return false;
  if (selector.sid !== undefined && record.idp?.sid !== selector.sid) return false;
  if (selector.sessionIndex !== undefined && record.idp?.sessionIndex !== selector.sessionIndex) {
    return false;
  }
  return true;
}

/**
 * Adds a session to its index sets. Each set lives until the session's absolute end, so it
 * never outlives the last session it names by more than the idle timeout.
 */
export async function registerSession(
  store: Store,
  sessionKey: string,
  record: SessionRecord,
  nowMs: number,
): Promise<void> {
  if (!store.addToSet) return;
  const ttlMs = record.expiresAt - nowMs;
  if (ttlMs <= 0) return;
  const addToSet = store.addToSet.bind(store);
  await Promise.all(indexKeysOf(record).map((key) => addToSet(key, sessionKey, ttlMs)));
}

/** Tells whether the session was ended by a logout, so its record must not be written again. */
export async function isSessionEnded(store: Store, sessionKey: string): Promise<boolean> {
  return (await store.get(ENDED_KEY_PREFIX + sessionKey)) !== undefined;
}

/**
 * Ends one session: marks it ended, deletes its record and removes it from the index. The
 * marker is written first, so a request that read the record before the delete cannot store it
 * again afterwards (see `createSessionMiddleware`).
 */
export async function endSessionKey(
  context: SessionIndexContext,
  sessionKey: string,
  record: SessionRecord | undefined,
): Promise<void> {
  const store = context.store;
  if (record) {
    await store.set(ENDED_KEY_PREFIX + sessionKey, "1", context.lifetime.maxAgeMs);
  }
  await store.delete(SESSION_KEY_PREFIX + sessionKey);
  if (record && store.removeFromSet) {
    const removeFromSet = store.removeFromSet.bind(store);
    await Promise.all(indexKeysOf(record).map((key) => removeFromSet(key, sessionKey)));
  }
}

/**
 * Ends every session that `selector` names, on every instance that shares the store, and
 * returns their records (for audit events and token revocation). A session that already ended
 * is skipped. Costs one read and a few writes per session of that user.
 */
export async function endSessions(
  context: SessionIndexContext,
  selector: SessionSelector,
): Promise<SessionRecord[]> {
  const store = context.store;
  const key = selectorKey(selector);
  if (key === undefined || !store.members) return [];
  const sessionKeys = await store.members(key);
  const ended: SessionRecord[] = [];
  for (const sessionKey of sessionKeys) {
    const record = await getJson<SessionRecord>(store, SESSION_KEY_PREFIX + sessionKey);
    if (!record || !matches(record, selector)) continue;
    await endSessionKey(context, sessionKey, record);
    ended.push(record);
  }
  return ended;
}
