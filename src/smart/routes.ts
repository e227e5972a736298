import type Router from "@koa/router";
import type Koa from "koa";
import * as client from "openid-client";
import { SignInError } from "../errors.js";
import type { ConnectionRegistry, RouteInstaller } from "../http/connection.js";
import { safeReturnTo } from "../http/return-to.js";
import { withSignInMetrics } from "../oidc/complete.js";
import { beginTransaction } from "../oidc/transaction.js";
import { handleSmartCallback } from "./callback.js";
import type { SmartConnection } from "./connection.js";

function queryValue(ctx: Koa.Context, name: string): string | undefined {
  const value = ctx.query[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Redirects to the EHR's authorization endpoint for an allow-listed FHIR server. */
async function authorize(
  ctx: Koa.Context,
  connection: SmartConnection,
  fhirBaseUrl: string,
  launch: string | undefined,
  returnTo: string,
): Promise<void> {
  const svc = connection.svc;
  const server = await connection.server(fhirBaseUrl);
  // Two IDs make a 64-character PKCE verifier (RFC 7636 requires 43 to 128 characters).
  const codeVerifier = svc.ids.randomId() + svc.ids.randomId();
  const nonce = connection.wantsIdToken ? svc.ids.randomId() : undefined;
  const state = await beginTransaction(ctx, svc, connection.transactionScope, {
    codeVerifier,
    ...(nonce ? { nonce } : {}),
    returnTo,
    fhirBaseUrl,
  });
  const parameters: Record<string, string> = {
    response_type: "code",
    redirect_uri: connection.callbackUrl,
    scope: connection.config.scopes.join(" "),
    state,
    aud: fhirBaseUrl,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: "S256",
  };
  if (launch) parameters.launch = launch;
  if (nonce) parameters.nonce = nonce;
  const url = client.buildAuthorizationUrl(connection.configuration(server), parameters);
  ctx.set("Cache-Control", "no-store");
  ctx.redirect(url.href);
}

/** Installs `/smart/:id/launch`, `/smart/:id/login` and `/smart/:id/callback`. */
export const installSmartRoutes: RouteInstaller = (router: Router, registry: ConnectionRegistry) => {
  router.get("/smart/:id/launch", async (ctx) => {
    const connection = registry.require<SmartConnection>(ctx.params.id ?? "", "smart");
    const iss = queryValue(ctx, "iss");
    const launch = queryValue(ctx, "launch");
    if (!iss || !launch || launch.length > 4096) {
      throw new SignInError("SMART_LAUNCH_INVALID", "The EHR launch request lacks iss or launch.", {
        connection: connection.id,
      });
    }
    const fhirBaseUrl = connection.allowedServer(iss);
    await authorize(ctx, connection, fhirBaseUrl, launch, "/");
  });

  router.get("/smart/:id/login", async (ctx) => {
    const connection = registry.require<SmartConnection>(ctx.params.id ?? "", "smart");
    const chosen = queryValue(ctx, "fhirServer");
    const fhirBaseUrl = chosen ? connection.allowedServer(chosen) : (connection.fhirServers[0] as string);
    await authorize(ctx, connection, fhirBaseUrl, undefined, safeReturnTo(ctx.query.returnTo));
  });

  router.get("/smart/:id/callback", async (ctx) => {
    const connection = registry.require<SmartConnection>(ctx.params.id ?? "", "smart");
    await withSignInMetrics(ctx, connection.svc, { connection: connection.id, protocol: "smart" }, () =>
      handleSmartCallback(ctx, connection),
    );
  });
};
