import { MAPPABLE_FIELDS, type ClaimsConfig, type MappableField } from "../config/schema.js";
import type { Identity, Protocol, SmartContext } from "./identity.js";
import { GROUPS_OVERAGE_SAML_ATTRIBUTE, PRESETS, type ClaimPreset } from "./presets.js";

/** Resolves a connection's `claims` setting into one name list per field. */
export function resolveClaimMapping(config: ClaimsConfig): ClaimPreset {
  if (typeof config === "string") return PRESETS[config];
  const mapping: ClaimPreset = { ...PRESETS[config.preset] };
  for (const field of MAPPABLE_FIELDS) {
    const override = config[field];
    if (override !== undefined) {
      mapping[field] = Array.isArray(override) ? override : [override];
    }
  }
  return mapping;
}

function asStrings(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : [value];
  return items
    .filter((item) => typeof item === "string" || typeof item === "number")
    .map((item) => String(item))
    .filter((item) => item.length > 0);
}

function firstString(
  claims: Record<string, unknown>,
  names: string[] | undefined,
): string | undefined {
  for (const name of names ?? []) {
    const value = asStrings(claims[name])[0];
    if (value !== undefined) return value;
  }
  return undefined;
}

function allStrings(claims: Record<string, unknown>, names: string[] | undefined): string[] {
  for (const name of names ?? []) {
    if (claims[name] !== undefined) return asStrings(claims[name]);
  }
  return [];
}

/**
 * Tells whether the claims show that the group list was left out for size: Entra's SAML
 * `groups.link` attribute, the OIDC `_claim_names.groups` distributed claim, or `hasgroups`.
 */
export function hasGroupsOverage(claims: Record<string, unknown>): boolean {
  if (claims[GROUPS_OVERAGE_SAML_ATTRIBUTE] !== undefined) return true;
  if (claims.hasgroups === true || claims.hasgroups === "true") return true;
  const claimNames = claims._claim_names;
  return (
    claimNames !== null &&
    typeof claimNames === "object" &&
    "groups" in (claimNames as Record<string, unknown>)
  );
}

/** Input of {@link buildIdentity}: what a verified sign-in produced. */
export interface VerifiedSignIn {
  connection: string;
  protocol: Protocol;
  issuer: string;
  /** NameID or `sub`. */
  subject: string;
  /** Verified attributes or claims. */
  claims: Record<string, unknown>;
  claimsConfig: ClaimsConfig;
  /** Milliseconds since the epoch. */
  authenticatedAt: number;
  /** Methods known outside the claims (SAML AuthnContextClassRef). */
  extraAuthMethods?: string[];
  /**
   * Set when one connection trusts several issuers (a SMART connection with several FHIR
   * servers): the fallback `id` becomes `{connection}:{issuer}|{subject}`, because the same
   * subject at two issuers names two users. A URL cannot contain a raw "|".
   */
  scopeIdToIssuer?: boolean;
  smart?: SmartContext;
}

/** Builds the normalized identity from verified claims. */
export function buildIdentity(input: VerifiedSignIn): Identity {
  const mapping = resolveClaimMapping(input.claimsConfig);
  const claims = input.claims;
  const read = (field: MappableField) => firstString(claims, mapping[field]);

  const subject = (mapping.subject ? read("subject") : undefined) ?? input.subject;
  const tenantId = read("tenantId");
  const objectId = read("objectId");
  const authMethods = [
    ...new Set([...allStrings(claims, mapping.authMethods), ...(input.extraAuthMethods ?? [])]),
  ];

  const identity: Identity = {
    id:
      tenantId && objectId
        ? `entra:${tenantId.toLowerCase()}:${objectId.toLowerCase()}`
        : input.scopeIdToIssuer
          ? `${input.connection}:${input.issuer}|${subject}`
          : `${input.connection}:${subject}`,
    connection: input.connection,
    protocol: input.protocol,
    issuer: input.issuer,
    subject,
    groups: allStrings(claims, mapping.groups),
    roles: allStrings(claims, mapping.roles),
    authMethods,
    authenticatedAt: new Date(input.authenticatedAt).toISOString(),
    claims,
  };
  const optional: Array<[keyof Identity, string | undefined]> = [
    ["tenantId", tenantId],
    ["objectId", objectId],
    ["email", read("email")],
    ["username", read("username")],
    ["name", read("name")],
    ["givenName", read("givenName")],
    ["familyName", read("familyName")],
  ];
  for (const [field, value] of optional) {
    if (value !== undefined) (identity as unknown as Record<string, unknown>)[field] = value;
  }
  if (hasGroupsOverage(claims)) identity.groupsOverage = true;
  if (input.smart) identity.smart = input.smart;
  return identity;
}
