/**
 * OpenID Connect sign-in (`type: oidc` connections): discovery, the authorization code flow
 * with PKCE, ID token validation by openid-client, and the Entra tenant check.
 */
export { createOidcConnection, OidcConnection } from "./connection.js";
export { installOidcRoutes } from "./routes.js";
