import type Router from "@koa/router";
import type { RouteInstaller } from "../http/connection.js";
import type { SamlConnection } from "./connection.js";

/** Installs the SAML routes; `:id` selects the connection before any message is read. */
export const installSamlRoutes: RouteInstaller = (router: Router, registry) => {
  const connection = (id: string) => registry.require<SamlConnection>(id, "saml");
  router.get("/saml/:id/metadata", (ctx) => connection(ctx.params.id ?? "").metadata(ctx));
  router.get("/saml/:id/login", (ctx) => connection(ctx.params.id ?? "").login(ctx));
  router.post("/saml/:id/acs", (ctx) => connection(ctx.params.id ?? "").acs(ctx));
  router.get("/saml/:id/slo", (ctx) => connection(ctx.params.id ?? "").slo(ctx));
  router.post("/saml/:id/slo", (ctx) => connection(ctx.params.id ?? "").slo(ctx));
};
