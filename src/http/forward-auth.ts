import type Koa from "koa";
import { getJson } from "../session/store.js";
import { SESSION_KEY_PREFIX } from "../session/session-index.js";
import { touchIntervalMs, type SessionRecord } from "../session/session.js";
import { answerForwardAuth } from "./routes.js";
import type { ServiceContext } from "./service.js";

/**
 * Serves `GET /auth`, which a proxy calls on every request, without koa-session and the router:
 * one signed-cookie check and one store read. Requests this path cannot finish alone (a session
 * that must end or whose idle timer is due for a write, or a store failure) go on to the full
 * `/auth` route, which handles them with the session middleware.
 */
export function forwardAuthFastPath(
  svc: ServiceContext,
  authPath: string,
  cookieName: string,
): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.path !== authPath || ctx.method !== "GET") {
      await next();
      return;
    }
    const key = svc.cookies(ctx).get(cookieName, { signed: true });
    if (!key) {
      answerForwardAuth(ctx, svc, undefined);
      return;
    }
    let record: Partial<SessionRecord> | undefined;
    try {
      record = await getJson<Partial<SessionRecord>>(svc.store, SESSION_KEY_PREFIX + key);
    } catch {
      await next();
      return;
    }
    if (!record?.identity || record.expiresAt === undefined || record.lastSeenAt === undefined) {
      answerForwardAuth(ctx, svc, undefined);
      return;
    }
    const now = svc.clock.now();
    const idleFor = now - record.lastSeenAt;
    const mustEnd = now >= record.expiresAt || idleFor >= svc.lifetime.idleTimeoutMs;
    if (mustEnd || idleFor >= touchIntervalMs(svc.lifetime.idleTimeoutMs)) {
      await next();
      return;
    }
    answerForwardAuth(ctx, svc, record.identity);
  };
}
