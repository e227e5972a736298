import type Router from "@koa/router";
import type Koa from "koa";
import { SignInError } from "../errors.js";
import type { Identity } from "../identity/identity.js";
import { readSession, type SessionRecord } from "../session/session.js";
import type { ConnectionRegistry } from "./connection.js";
import { setPageHeaders, wantsJson } from "./error-handler.js";
import { escapeHtml, renderPage } from "./html.js";
import { safeReturnTo } from "./return-to.js";
import type { ServiceContext } from "./service.js";

const SESSION_STATE = Symbol("federated-signin.session");

/** Returns the signed-in session of this request, read once per request. */
export function currentSession(ctx: Koa.Context, svc: ServiceContext): SessionRecord | undefined {
  const state = ctx.state as Record<symbol, SessionRecord | null | undefined>;
  const cached = state[SESSION_STATE];
  if (cached !== undefined) return cached ?? undefined;
  const record = readSession(ctx, svc.clock, svc.lifetime);
  state[SESSION_STATE] = record ?? null;
  return record;
}

/** Forgets the cached session of this request, after sign-in or logout changed it. */
export function resetCurrentSession(ctx: Koa.Context): void {
  delete (ctx.state as Record<symbol, unknown>)[SESSION_STATE];
}

/** Identity as exposed to clients: everything but server-side secrets. */
function publicSession(record: SessionRecord, svc: ServiceContext) {
  return {
    identity: record.identity,
    expiresAt: new Date(record.expiresAt).toISOString(),
    idleExpiresAt: new Date(record.lastSeenAt + svc.lifetime.idleTimeoutMs).toISOString(),
  };
}

/**
 * Makes a header value safe: Node rejects control characters and most non-Latin-1 text in
 * headers, so a value with anything outside printable ASCII is sent percent-encoded.
 */
export function headerValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

function setForwardAuthHeaders(ctx: Koa.Context, identity: Identity): void {
  ctx.set("X-Auth-Request-User", headerValue(identity.id));
  if (identity.email) ctx.set("X-Auth-Request-Email", headerValue(identity.email));
  if (identity.username) {
    ctx.set("X-Auth-Request-Preferred-Username", headerValue(identity.username));
  }
  ctx.set("X-Auth-Request-Groups", identity.groups.map(headerValue).join(","));
  ctx.set("X-Auth-Request-Roles", identity.roles.map(headerValue).join(","));
  ctx.set("X-Auth-Request-Connection", identity.connection);
}

function renderHome(
  svc: ServiceContext,
  registry: ConnectionRegistry,
  returnTo: string,
  record?: SessionRecord,
): string {
  const base = svc.config.baseUrl;
  if (record) {
    const identity = record.identity;
    const rows: Array<[string, string | undefined]> = [
      ["Name", identity.name],
      ["Email", identity.email],
      ["Username", identity.username],
      ["User ID", identity.id],
      ["Signed in with", `${identity.connection} (${identity.protocol.toUpperCase()})`],
      ["Groups", identity.groups.length > 0 ? identity.groups.join(", ") : "none"],
      ["Roles", identity.roles.length > 0 ? identity.roles.join(", ") : "none"],
      ["Session ends", new Date(record.expiresAt).toISOString()],
    ];
    const canIdpLogout = registry.get(identity.connection)?.startIdpLogout !== undefined;
    return renderPage(
      "Signed in",
      `<div class="card">
<h1>Signed in</h1>
<p class="lead">You are signed in as <strong id="signed-in-user">${escapeHtml(identity.name ?? identity.username ?? identity.subject)}</strong>.</p>
<dl>
${rows
  .filter((row): row is [string, string] => row[1] !== undefined)
  .map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`)
  .join("\n")}
</dl>
<form method="post" action="${escapeHtml(`${base}/logout`)}">
<button type="submit" class="secondary">Sign out</button>
</form>
${
  canIdpLogout
    ? `<form method="post" action="${escapeHtml(`${base}/logout?idp=1`)}" style="margin-top:0.6rem">
<button type="submit" class="secondary">Sign out everywhere</button>
</form>`
    : ""
}
</div>`,
    );
  }
  const connections = registry.all();
  const buttons =
    connections.length === 0
      ? `<p>No connections are configured. Add one under <code>connections</code> in the configuration file.</p>`
      : `<ul class="connections">
${connections
  .map(
    (connection) => `<li><a class="button" href="${escapeHtml(base + connection.loginPath(returnTo))}">
<span>Sign in with ${escapeHtml(connection.displayName)}</span><span class="protocol">${escapeHtml(connection.type.toUpperCase())}</span></a></li>`,
  )
  .join("\n")}
</ul>`;
  return renderPage(
    "Sign in",
    `<div class="card">
<h1>Sign in</h1>
<p class="lead">Choose your organization's identity provider.</p>
${buttons}
</div>`,
  );
}

/** Tells whether a state-changing request came from another site (a cross-site form post). */
function isCrossSiteRequest(ctx: Koa.Context, baseUrl: string): boolean {
  const fetchSite = ctx.get("sec-fetch-site");
  if (fetchSite === "cross-site" || fetchSite === "same-site") return true;
  const origin = ctx.get("origin");
  if (origin && origin !== "null") return origin !== new URL(baseUrl).origin;
  return origin === "null";
}

/** Installs the routes common to all protocols: pages, session, forward-auth, logout. */
export function installCoreRoutes(
  router: Router,
  registry: ConnectionRegistry,
  svc: ServiceContext,
): void {
  router.get("/", (ctx) => {
    setPageHeaders(ctx);
    ctx.type = "html";
    ctx.body = renderHome(svc, registry, safeReturnTo(ctx.query.returnTo), currentSession(ctx, svc));
  });

  router.get("/session", (ctx) => {
    ctx.set("Cache-Control", "no-store");
    const record = currentSession(ctx, svc);
    if (!record) {
      ctx.status = 401;
      ctx.body = { error: "NOT_SIGNED_IN", message: "No active session." };
      return;
    }
    ctx.body = publicSession(record, svc);
  });

  router.get("/auth", (ctx) => {
    ctx.set("Cache-Control", "no-store");
    const record = currentSession(ctx, svc);
    if (!record) {
      // Traefik ForwardAuth passes a non-2xx answer to the browser as it is, so with
      // ?redirect=1 an anonymous request is sent to the sign-in page with the requested path.
      // nginx auth_request accepts only 2xx, 401 and 403, so it must not use redirect mode.
      if (ctx.query.redirect === "1") {
        const requested = safeReturnTo(ctx.get("x-forwarded-uri") || ctx.get("x-original-uri"));
        ctx.redirect(`${svc.config.baseUrl}/?returnTo=${encodeURIComponent(requested)}`);
        return;
      }
      ctx.status = 401;
      ctx.body = "";
      return;
    }
    setForwardAuthHeaders(ctx, record.identity);
    ctx.status = 200;
    ctx.body = "";
  });

  router.post("/logout", async (ctx) => {
    if (isCrossSiteRequest(ctx, svc.config.baseUrl)) {
      throw new SignInError("BAD_REQUEST", "Logout must be sent from this site.", {
        fix: "Use the sign-out button of this application.",
        logDetails: { origin: ctx.get("origin").slice(0, 100) },
      });
    }
    const record = currentSession(ctx, svc);
    ctx.session = null;
    resetCurrentSession(ctx);
    let idpLogoutUrl: string | undefined;
    if (record) {
      const connection = registry.get(record.identity.connection);
      const wantsIdpLogout = ctx.query.idp === "1" || ctx.query.idp === "true";
      svc.metrics.logouts.inc({
        connection: record.identity.connection,
        kind: wantsIdpLogout ? "idp" : "local",
      });
      svc.audit.record({
        event: "logout",
        connection: record.identity.connection,
        user: record.identity.id,
        kind: wantsIdpLogout ? "idp" : "local",
        clientIp: ctx.ip,
      });
      if (wantsIdpLogout && connection?.startIdpLogout) {
        idpLogoutUrl = await connection.startIdpLogout(ctx, record);
      }
    }
    const target = idpLogoutUrl ?? `${svc.config.baseUrl}${safeReturnTo(ctx.query.returnTo)}`;
    if (wantsJson(ctx)) {
      ctx.body = { loggedOut: record !== undefined, redirect: target };
      return;
    }
    ctx.status = 303;
    ctx.redirect(target);
  });
}

/** Installs liveness, readiness and metrics routes, which never touch the session. */
export function installHealthRoutes(
  router: Router,
  registry: ConnectionRegistry,
  svc: ServiceContext,
): void {
  router.get("/healthz", (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.body = { status: "ok" };
  });

  router.get("/readyz", async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    const problems: Array<{ component: string; message: string }> = [];
    try {
      await svc.store.ping();
    } catch (error) {
      problems.push({ component: "store", message: (error as Error).message });
    }
    await Promise.all(
      registry.all().map(async (connection) => {
        try {
          await connection.checkReady();
        } catch (error) {
          problems.push({ component: `connection:${connection.id}`, message: (error as Error).message });
        }
      }),
    );
    ctx.status = problems.length === 0 ? 200 : 503;
    ctx.body = { status: problems.length === 0 ? "ready" : "not ready", problems };
  });

  router.get("/metrics", async (ctx) => {
    ctx.type = svc.metrics.registry.contentType;
    ctx.body = await svc.metrics.registry.metrics();
  });
}
