import type Koa from "koa";
import type { AuditEvent } from "../audit/audit.js";
import { endSessions, type SessionSelector } from "../session/session-index.js";
import type { SessionRecord } from "../session/session.js";
import type { ServiceContext } from "./service.js";

/** Kind of logout, as in the `logout` {@link AuditEvent}. */
export type LogoutKind = Extract<AuditEvent, { event: "logout" }>["kind"];

/** Counts one ended session in the logout metric and writes its audit event. */
export function recordLogout(
  ctx: Koa.Context,
  svc: ServiceContext,
  record: SessionRecord,
  kind: LogoutKind,
): void {
  const connection = record.identity.connection;
  svc.metrics.logouts.inc({ connection, kind });
  svc.audit.record({
    event: "logout",
    connection,
    user: record.identity.id,
    kind,
    clientIp: ctx.ip,
  });
}

/**
 * Ends every session that `selector` names on every instance sharing the store, and records
 * each in the metrics and the audit log. Returns the ended sessions.
 */
export async function endSessionsEverywhere(
  ctx: Koa.Context,
  svc: ServiceContext,
  selector: SessionSelector,
  kind: LogoutKind,
): Promise<SessionRecord[]> {
  const ended = await endSessions(svc, selector);
  for (const record of ended) recordLogout(ctx, svc, record, kind);
  return ended;
}
