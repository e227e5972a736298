import type { ParsedSamlConnection } from "../config/schema.js";
import type { Connection, RouteInstaller } from "../http/connection.js";
import type { ServiceContext } from "../http/service.js";
import { SamlConnection } from "./connection.js";
import { installSamlRoutes as installRoutes } from "./routes.js";

/**
 * Creates a SAML 2.0 service provider connection. It reads its keys and certificates and loads
 * the IdP metadata (file or URL) before it resolves. It throws ConfigError, naming the key, the
 * value and the fix, when any of them is unusable.
 */
export async function createSamlConnection(
  connection: ParsedSamlConnection,
  svc: ServiceContext,
): Promise<Connection> {
  return SamlConnection.create(connection, svc);
}

/** Installs `/saml/:id/metadata`, `/login`, `/acs` and `/slo`. */
export const installSamlRoutes: RouteInstaller = installRoutes;
