import { createHash, timingSafeEqual } from "node:crypto";
import type Router from "@koa/router";
import type Koa from "koa";
import { SignInError } from "../errors.js";
import type { ConnectionRegistry } from "../http/connection.js";
import { setPageHeaders, wantsJson } from "../http/error-handler.js";
import { escapeHtml, renderPage } from "../http/html.js";
import type { ServiceContext } from "../http/service.js";
import { listTraces, type SignInTrace } from "../traces/trace.js";

/**
 * Tells whether the request carries the admin token as `Authorization: Bearer`. Both sides are
 * hashed first, so the comparison takes the same time whatever the length or content.
 */
function hasAdminToken(ctx: Koa.Context, token: string): boolean {
  const match = /^Bearer ([\x21-\x7e]+)$/.exec(ctx.get("authorization"));
  if (!match) return false;
  const sent = createHash("sha256")
    .update(match[1] ?? "", "utf8")
    .digest();
  const expected = createHash("sha256").update(token, "utf8").digest();
  return timingSafeEqual(sent, expected);
}

/** Throws ADMIN_NOT_CONFIGURED (404) without `admin.token`, ADMIN_UNAUTHORIZED (401) without a match. */
function requireAdmin(ctx: Koa.Context, svc: ServiceContext): void {
  const token = svc.config.admin?.token;
  if (token === undefined) {
    throw new SignInError("ADMIN_NOT_CONFIGURED", "Not found.");
  }
  if (!hasAdminToken(ctx, token)) {
    ctx.set("WWW-Authenticate", 'Bearer realm="federated-signin admin"');
    throw new SignInError("ADMIN_UNAUTHORIZED", "The admin token is missing or wrong.");
  }
}

function renderTrace(trace: SignInTrace): string {
  const rows = (entries: Array<[string, string]>) =>
    entries
      .map(([name, value]) => `<tr><th>${escapeHtml(name)}</th><td>${escapeHtml(value)}</td></tr>`)
      .join("");
  const outcome =
    trace.outcome === "success"
      ? "success"
      : `failure: ${trace.code ?? ""} ${trace.message ?? ""}`.trim();
  return `<section class="card">
<h2>${escapeHtml(trace.at)} · ${escapeHtml(trace.connection)} (${escapeHtml(trace.protocol.toUpperCase())})</h2>
<p>${escapeHtml(outcome)}</p>
<h3>Received</h3><table>${rows(Object.entries(trace.received))}</table>
<h3>Claims</h3><table>${rows(trace.claims.map((claim) => [claim.name, claim.value]))}</table>
<h3>Mapping</h3><table>${rows(
    trace.mapping.map((entry) => [
      entry.field,
      `${entry.claim ?? "(no claim)"} → ${entry.value ?? "(empty)"}`,
    ]),
  )}</table>
</section>`;
}

/**
 * Installs `GET /admin/traces` and `GET /admin/traces/:connection`: the login traces of the
 * connections with `trace: true`, as HTML or JSON, behind the `admin.token` bearer token.
 */
export function installAdminRoutes(
  router: Router,
  registry: ConnectionRegistry,
  svc: ServiceContext,
): void {
  const traced = () => svc.config.connections.filter((connection) => connection.trace);

  const show = async (ctx: Koa.Context, connectionIds: string[]) => {
    const traces: SignInTrace[] = [];
    for (const id of connectionIds) traces.push(...(await listTraces(svc.store, id)));
    traces.sort((a, b) => b.at.localeCompare(a.at));
    setPageHeaders(ctx);
    if (wantsJson(ctx)) {
      ctx.body = { connections: connectionIds, traces };
      return;
    }
    ctx.type = "html";
    ctx.body = renderPage(
      "Login traces",
      `<div class="card"><h1>Login traces</h1>
<p>Connections with <code>trace: true</code>: ${escapeHtml(connectionIds.join(", ") || "none")}. Values are redacted.</p></div>
${traces.length === 0 ? `<p>No sign-in attempts in the last hour.</p>` : traces.map(renderTrace).join("\n")}`,
    );
  };

  router.get("/admin/traces", async (ctx) => {
    requireAdmin(ctx, svc);
    await show(
      ctx,
      traced().map((connection) => connection.id),
    );
  });

  router.get("/admin/traces/:connection", async (ctx) => {
    requireAdmin(ctx, svc);
    const id = ctx.params.connection ?? "";
    if (!registry.get(id)) {
      throw new SignInError("CONNECTION_NOT_FOUND", `No connection is named "${id.slice(0, 64)}".`);
    }
    await show(ctx, [id]);
  });
}
