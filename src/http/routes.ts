import type Router from "@koa/router";
import type Koa from "koa";
import { SignInError } from "../errors.js";
import type { Identity } from "../identity/identity.js";
import { protocolSubject, type SessionSelector } from "../session/session-index.js";
import { endCurrentSession, readSession, type SessionRecord } from "../session/session.js";
import type { SmartConnection } from "../smart/connection.js";
import { revokeSmartTokens } from "../smart/revoke.js";
import type { ConnectionRegistry } from "./connection.js";
import { setPageHeaders, wantsJson } from "./error-handler.js";
import { ICONS, escapeHtml, renderPage } from "./html.js";
import { endSessionsEverywhere, recordLogout } from "./logout.js";
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

/**
 * Makes one item of a comma-separated header list safe: an item that contains a comma or a
 * percent sign, or anything {@link headerValue} would encode, is sent percent-encoded, so a
 * group named "staff,admins" cannot arrive as two groups.
 */
export function headerListItem(value: string): string {
  return /^[\x20-\x24\x26-\x2b\x2d-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

/** Sends the `GET /auth` response for the signed-in identity, or for an anonymous request. */
export function answerForwardAuth(
  ctx: Koa.Context,
  svc: ServiceContext,
  identity: Identity | undefined,
): void {
  ctx.set("Cache-Control", "no-store");
  if (!identity) {
    // Traefik ForwardAuth passes a non-2xx response to the browser as it is, so with
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
  setForwardAuthHeaders(ctx, identity);
  ctx.status = 200;
  ctx.body = "";
}

function setForwardAuthHeaders(ctx: Koa.Context, identity: Identity): void {
  ctx.set("X-Auth-Request-User", headerValue(identity.id));
  if (identity.email) ctx.set("X-Auth-Request-Email", headerValue(identity.email));
  if (identity.username) {
    ctx.set("X-Auth-Request-Preferred-Username", headerValue(identity.username));
  }
  ctx.set("X-Auth-Request-Groups", identity.groups.map(headerListItem).join(","));
  ctx.set("X-Auth-Request-Roles", identity.roles.map(headerListItem).join(","));
  ctx.set("X-Auth-Request-Connection", identity.connection);
}

/** Protocol names as users and administrators know them, shown next to each connection. */
const PROTOCOL_LABELS: Record<string, string> = {
  saml: "SAML 2.0",
  oidc: "OpenID Connect",
  smart: "SMART on FHIR",
};

/** Formats an instant as `YYYY-MM-DD HH:MM UTC` for people. The ISO form goes in `datetime`. */
function formatUtc(epochMs: number): string {
  const iso = new Date(epochMs).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** Renders a list of values, or "None" when it is empty. */
function renderValues(values: string[]): string {
  if (values.length === 0) return "None";
  return `<ul class="values">${values.map((value) => `<li>${escapeHtml(value)}</li>`).join("")}</ul>`;
}

function renderSignedIn(
  svc: ServiceContext,
  registry: ConnectionRegistry,
  record: SessionRecord,
): string {
  const base = svc.config.baseUrl;
  const identity = record.identity;
  const connection = registry.get(identity.connection);
  const connectionLabel = connection?.displayName ?? identity.connection;
  const protocol = PROTOCOL_LABELS[identity.protocol] ?? identity.protocol.toUpperCase();
  // Each value is HTML already: escaped text or a rendered list.
  const rows: Array<[string, string | undefined]> = [
    ["Name", identity.name === undefined ? undefined : escapeHtml(identity.name)],
    ["Email", identity.email === undefined ? undefined : escapeHtml(identity.email)],
    ["Username", identity.username === undefined ? undefined : escapeHtml(identity.username)],
    ["User ID", `<code class="identifier">${escapeHtml(identity.id)}</code>`],
    [
      "Signed in with",
      `${escapeHtml(connectionLabel)}<span class="badge">${escapeHtml(protocol)}</span>`,
    ],
    ["Groups", renderValues(identity.groups)],
    ["Roles", renderValues(identity.roles)],
    [
      "Session ends",
      `<time datetime="${new Date(record.expiresAt).toISOString()}">${formatUtc(record.expiresAt)}</time>`,
    ],
  ];
  const canIdpLogout = connection?.startIdpLogout !== undefined;
  const displayName = identity.name ?? identity.username ?? identity.subject;
  return renderPage(
    "Signed in",
    `<div class="card">
<p class="status status-ok">${ICONS.ok}<span>Signed in</span></p>
<h1>Welcome, <span id="signed-in-user">${escapeHtml(displayName)}</span></h1>
<p class="lead">This is who the applications behind this service see.</p>
<h2 id="identity-heading">Your identity</h2>
<dl class="facts" aria-labelledby="identity-heading">
${rows
  .filter((row): row is [string, string] => row[1] !== undefined)
  .map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${value}</dd>`)
  .join("\n")}
</dl>
<div class="actions">
<form method="post" action="${escapeHtml(`${base}/logout`)}">
<button type="submit" class="primary">Sign out</button>
</form>
${
  canIdpLogout
    ? `<form method="post" action="${escapeHtml(`${base}/logout?idp=1`)}">
<button type="submit" class="secondary" aria-describedby="idp-logout-hint">Sign out everywhere</button>
</form>`
    : ""
}
</div>
${
  canIdpLogout
    ? `<p class="hint" id="idp-logout-hint">"Sign out everywhere" also ends your session at ${escapeHtml(connectionLabel)}.</p>`
    : ""
}
</div>`,
  );
}

function renderHome(
  svc: ServiceContext,
  registry: ConnectionRegistry,
  returnTo: string,
  record?: SessionRecord,
): string {
  if (record) return renderSignedIn(svc, registry, record);
  const base = svc.config.baseUrl;
  const connections = registry.all();
  const buttons =
    connections.length === 0
      ? `<p>No connections are configured. Add one under <code>connections</code> in the configuration file.</p>`
      : `<ul class="connections" aria-labelledby="sign-in-heading">
${connections
  .map(
    (
      connection,
    ) => `<li><a class="connection" href="${escapeHtml(base + connection.loginPath(returnTo))}">
<span class="connection-name">Sign in with ${escapeHtml(connection.displayName)}</span><span class="badge">${escapeHtml(PROTOCOL_LABELS[connection.type] ?? connection.type.toUpperCase())}</span></a></li>`,
  )
  .join("\n")}
</ul>`;
  return renderPage(
    "Sign in",
    `<div class="card">
<h1 id="sign-in-heading">Sign in</h1>
<p class="lead">Choose your organization. You sign in on its page and then come back here.</p>
${buttons}
</div>`,
  );
}

/** Tells whether a state-changing request came from another site (a cross-site form post). */
function isCrossSiteRequest(ctx: Koa.Context, baseUrl: string): boolean {
  // Browsers that send Sec-Fetch-Site state exactly where the request came from. A page with
  // Referrer-Policy no-referrer makes Chromium send "Origin: null" even for a same-origin
  // form post, so Origin is read only when Sec-Fetch-Site is absent.
  const fetchSite = ctx.get("sec-fetch-site");
  if (fetchSite) return fetchSite !== "same-origin" && fetchSite !== "none";
  const origin = ctx.get("origin");
  if (origin && origin !== "null") return origin !== new URL(baseUrl).origin;
  return origin === "null";
}

/**
 * Finishes `POST /logout` after the current session ended. With `?idp=1` ("sign out
 * everywhere") it also ends the user's other sessions on this connection, on every instance,
 * and returns the IdP logout URL. SMART tokens of every ended session are revoked at the EHR.
 */
async function endLogoutSessions(
  ctx: Koa.Context,
  svc: ServiceContext,
  registry: ConnectionRegistry,
  record: SessionRecord,
): Promise<string | undefined> {
  const connectionId = record.identity.connection;
  const connection = registry.get(connectionId);
  const wantsIdpLogout = ctx.query.idp === "1" || ctx.query.idp === "true";
  const kind = wantsIdpLogout ? "idp" : "local";
  recordLogout(ctx, svc, record, kind);
  const ended = [record];
  if (wantsIdpLogout) {
    const selector: SessionSelector = {
      connection: connectionId,
      subject: protocolSubject(record),
    };
    if (record.identity.protocol !== "saml") selector.issuer = record.identity.issuer;
    ended.push(...(await endSessionsEverywhere(ctx, svc, selector, kind)));
  }
  if (connection?.type === "smart") {
    for (const each of ended) await revokeSmartTokens(connection as SmartConnection, each);
  }
  return wantsIdpLogout && connection?.startIdpLogout
    ? connection.startIdpLogout(ctx, record)
    : undefined;
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
    ctx.body = renderHome(
      svc,
      registry,
      safeReturnTo(ctx.query.returnTo),
      currentSession(ctx, svc),
    );
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
    answerForwardAuth(ctx, svc, currentSession(ctx, svc)?.identity);
  });

  router.post("/logout", async (ctx) => {
    if (isCrossSiteRequest(ctx, svc.config.baseUrl)) {
      throw new SignInError("BAD_REQUEST", "Logout must be sent from this site.", {
        fix: "Use the sign-out button of this application.",
        logDetails: { origin: ctx.get("origin").slice(0, 100) },
      });
    }
    const record = currentSession(ctx, svc);
    let idpLogoutUrl: string | undefined;
    if (record) {
      await endCurrentSession(ctx, svc, record);
      resetCurrentSession(ctx);
      idpLogoutUrl = await endLogoutSessions(ctx, svc, registry, record);
    } else {
      ctx.session = null;
      resetCurrentSession(ctx);
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
          problems.push({
            component: `connection:${connection.id}`,
            message: (error as Error).message,
          });
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
