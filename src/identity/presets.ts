import type { MappableField } from "../config/schema.js";

/** For each identity field, the claim or attribute names to try, first present wins. */
export type ClaimPreset = Partial<Record<MappableField, string[]>>;

const ENTRA_SAML = "http://schemas.microsoft.com/identity/claims/";
const WS_2005 = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/";
const WS_2008 = "http://schemas.microsoft.com/ws/2008/06/identity/claims/";

/** Claim names that signal Entra's groups overage (too many groups for the token). */
export const GROUPS_OVERAGE_SAML_ATTRIBUTE = "http://schemas.microsoft.com/claims/groups.link";

/**
 * Entra ID: its SAML attribute URIs (as emitted by enterprise apps) and its OIDC v2 claims.
 */
export const ENTRA_PRESET: ClaimPreset = {
  tenantId: [`${ENTRA_SAML}tenantid`, "tid"],
  objectId: [`${ENTRA_SAML}objectidentifier`, "oid"],
  email: [`${WS_2005}emailaddress`, "email"],
  username: [`${WS_2005}name`, "preferred_username", "upn"],
  name: [`${ENTRA_SAML}displayname`, "name"],
  givenName: [`${WS_2005}givenname`, "given_name"],
  familyName: [`${WS_2005}surname`, "family_name"],
  groups: [`${WS_2008}groups`, "groups"],
  roles: [`${WS_2008}role`, "roles"],
  authMethods: ["http://schemas.microsoft.com/claims/authnmethodsreferences", "amr"],
};

/**
 * Common OIDC claims and SAML attribute names: short LDAP names, their urn:oid forms
 * (eduPerson / inetOrgPerson), and the WS-Federation claim URIs used by AD FS.
 */
export const GENERIC_PRESET: ClaimPreset = {
  email: [
    "email",
    "mail",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "emailAddress",
    `${WS_2005}emailaddress`,
  ],
  username: [
    "preferred_username",
    "uid",
    "urn:oid:0.9.2342.19200300.100.1.1",
    "eduPersonPrincipalName",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
    "upn",
    `${WS_2005}upn`,
  ],
  name: [
    "name",
    "displayName",
    "urn:oid:2.16.840.1.113730.3.1.241",
    "cn",
    "urn:oid:2.5.4.3",
    `${WS_2005}name`,
  ],
  givenName: ["given_name", "givenName", "urn:oid:2.5.4.42", `${WS_2005}givenname`],
  familyName: ["family_name", "sn", "surname", "urn:oid:2.5.4.4", `${WS_2005}surname`],
  groups: ["groups", "memberOf", "isMemberOf", "urn:oid:1.3.6.1.4.1.5923.1.5.1.1", `${WS_2008}groups`],
  roles: ["roles", "role", `${WS_2008}role`],
  authMethods: ["amr"],
};

export const PRESETS = { entra: ENTRA_PRESET, generic: GENERIC_PRESET } as const;
