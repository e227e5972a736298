/** Protocol a sign-in arrived by. */
export type Protocol = "saml" | "oidc" | "smart";

/** SMART on FHIR launch context of a session. */
export interface SmartContext {
  fhirBaseUrl: string;
  patient?: string;
  encounter?: string;
  fhirUser?: string;
  scope: string;
  needPatientBanner?: boolean;
  smartStyleUrl?: string;
  tenant?: string;
}

/**
 * The normalized user identity. SAML, OpenID Connect and SMART sign-ins all produce this
 * object; it is stored in the session and returned by `GET /session`.
 */
export interface Identity {
  /** Stable user key: `entra:{tenantId}:{objectId}` when both are known, else `{connection}:{subject}`. */
  id: string;
  connection: string;
  protocol: Protocol;
  /** SAML Issuer or OIDC `iss`. */
  issuer: string;
  /** NameID or `sub`, as sent. */
  subject: string;
  /** Entra `tid`. */
  tenantId?: string;
  /** Entra `oid`. */
  objectId?: string;
  email?: string;
  /** `preferred_username`, UPN, or the Entra SAML "name" claim. */
  username?: string;
  name?: string;
  givenName?: string;
  familyName?: string;
  groups: string[];
  /**
   * True when the IdP left the group list out because the user has too many groups (Entra
   * "groups overage"). `groups` is then incomplete and must be read from Microsoft Graph.
   */
  groupsOverage?: boolean;
  roles: string[];
  /** `amr`, or SAML AuthnContextClassRef / authnmethodsreferences. */
  authMethods: string[];
  /** ISO 8601 time the user authenticated at the IdP. */
  authenticatedAt: string;
  smart?: SmartContext;
  /** Every claim or attribute received, for custom mapping. */
  claims: Record<string, unknown>;
}
