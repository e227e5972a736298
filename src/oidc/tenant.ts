import { SignInError } from "../errors.js";

/**
 * Checks the ID token's Entra tenant (`tid`) against `allowedTenants`. With no list configured
 * every tenant passes, but configuration loading requires the list for multi-tenant Entra
 * issuers (`common`, `organizations`, `consumers`). Tenant IDs compare case-insensitively.
 */
export function checkTenant(
  claims: Record<string, unknown>,
  allowedTenants: readonly string[] | undefined,
  connection: string,
): void {
  if (allowedTenants === undefined || allowedTenants.length === 0) return;
  const tid = typeof claims.tid === "string" ? claims.tid.toLowerCase() : undefined;
  const allowed = allowedTenants.some((tenant) => tenant.toLowerCase() === tid);
  if (!allowed) {
    throw new SignInError(
      "OIDC_TENANT_NOT_ALLOWED",
      tid === undefined
        ? "The ID token has no tenant ID (tid), so it cannot be checked against allowedTenants."
        : "The user's tenant is not in allowedTenants of this connection.",
      { connection, logDetails: { tid: tid?.slice(0, 64) } },
    );
  }
}
