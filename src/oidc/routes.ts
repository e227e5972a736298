import type Router from "@koa/router";
import type Koa from "koa";
import type { ConnectionRegistry, RouteInstaller } from "../http/connection.js";
import { safeReturnTo } from "../http/return-to.js";
import { handleBackchannelLogout } from "./backchannel.js";
import { handleOidcCallback } from "./callback.js";
import { withSignInMetrics } from "./complete.js";
import type { OidcConnection } from "./connection.js";
import { beginTransaction } from "./transaction.js";

/** Starts a sign-in: stores state, nonce and the PKCE verifier, then redirects to the provider. */
async function login(ctx: Koa.Context, connection: OidcConnection): Promise<void> {
  const svc = connection.svc;
  // Two IDs make a 64-character PKCE verifier (RFC 7636 requires 43 to 128 characters).
  const codeVerifier = svc.ids.randomId() + svc.ids.randomId();
  const nonce = svc.ids.randomId();
  const state = await beginTransaction(ctx, svc, connection.transactionScope, {
    codeVerifier,
    nonce,
    returnTo: safeReturnTo(ctx.query.returnTo),
  });
  const url = await connection.authorizationUrl({ state, nonce, codeVerifier });
  ctx.set("Cache-Control", "no-store");
  ctx.redirect(url.href);
}

/**
 * Installs `GET /oidc/:id/login`, `GET|POST /oidc/:id/callback` and
 * `POST /oidc/:id/backchannel-logout`.
 */
export const installOidcRoutes: RouteInstaller = (router: Router, registry: ConnectionRegistry) => {
  router.get("/oidc/:id/login", async (ctx) => {
    await login(ctx, registry.require<OidcConnection>(ctx.params.id ?? "", "oidc"));
  });

  const callback = async (ctx: Koa.Context) => {
    const connection = registry.require<OidcConnection>(ctx.params.id ?? "", "oidc");
    await withSignInMetrics(ctx, connection.svc, { connection: connection.id, protocol: "oidc" }, () =>
      handleOidcCallback(ctx, connection),
    );
  };
  router.get("/oidc/:id/callback", callback);
  router.post("/oidc/:id/callback", callback);

  router.post("/oidc/:id/backchannel-logout", async (ctx) => {
    const connection = registry.require<OidcConnection>(ctx.params.id ?? "", "oidc");
    await handleBackchannelLogout(ctx, connection);
  });
};
