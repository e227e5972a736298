import { describe, expect, it } from "@jest/globals";
import { buildIdentity } from "../../src/identity/map.js";

const TID = "6F1C2B3A-8D4E-4F5A-9B6C-7D8E9F0A1B2C";
const OID = "a1111111-1111-4111-8111-111111111111";
const AUTHENTICATED_AT = Date.parse("2026-12-04T12:00:00Z");

const entraSamlAttributes = {
  "http://schemas.microsoft.com/identity/claims/tenantid": TID,
  "http://schemas.microsoft.com/identity/claims/objectidentifier": OID,
  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": "alice@mercy.example",
  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": "alice@mercy.example",
  "http://schemas.microsoft.com/identity/claims/displayname": "Alice Nguyen",
  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": "Alice",
  "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname": "Nguyen",
  "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups": ["g1", "g2"],
  "http://schemas.microsoft.com/ws/2008/06/identity/claims/role": "Clinician",
  "http://schemas.microsoft.com/claims/authnmethodsreferences": [
    "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password",
  ],
};

const entraOidcClaims = {
  iss: `https://login.microsoftonline.com/${TID.toLowerCase()}/v2.0`,
  sub: "pairwise-sub-differs-from-oid",
  tid: TID.toLowerCase(),
  oid: OID,
  preferred_username: "alice@mercy.example",
  email: "alice@mercy.example",
  name: "Alice Nguyen",
  roles: ["Clinician"],
  groups: ["g1", "g2"],
  amr: ["pwd", "mfa"],
};

describe("buildIdentity", () => {
  it("maps Entra SAML attributes", () => {
    const identity = buildIdentity({
      connection: "mercy-saml",
      protocol: "saml",
      issuer: `https://sts.windows.net/${TID}/`,
      subject: "persistent-nameid",
      claims: entraSamlAttributes,
      claimsConfig: "entra",
      authenticatedAt: AUTHENTICATED_AT,
      extraAuthMethods: ["urn:oasis:names:tc:SAML:2.0:ac:classes:Password"],
    });
    expect(identity.id).toBe(`entra:${TID.toLowerCase()}:${OID}`);
    expect(identity.email).toBe("alice@mercy.example");
    expect(identity.username).toBe("alice@mercy.example");
    expect(identity.name).toBe("Alice Nguyen");
    expect(identity.givenName).toBe("Alice");
    expect(identity.familyName).toBe("Nguyen");
    expect(identity.groups).toEqual(["g1", "g2"]);
    expect(identity.roles).toEqual(["Clinician"]);
    expect(identity.authMethods).toHaveLength(2);
    expect(identity.authenticatedAt).toBe("2026-12-04T12:00:00.000Z");
    expect(identity.groupsOverage).toBeUndefined();
  });

  it("gives the same id by SAML and by OIDC", () => {
    const saml = buildIdentity({
      connection: "mercy-saml",
      protocol: "saml",
      issuer: `https://sts.windows.net/${TID}/`,
      subject: "persistent-nameid",
      claims: entraSamlAttributes,
      claimsConfig: "entra",
      authenticatedAt: AUTHENTICATED_AT,
    });
    const oidc = buildIdentity({
      connection: "mercy-oidc",
      protocol: "oidc",
      issuer: entraOidcClaims.iss,
      subject: entraOidcClaims.sub,
      claims: entraOidcClaims,
      claimsConfig: "entra",
      authenticatedAt: AUTHENTICATED_AT,
    });
    expect(oidc.id).toBe(saml.id);
    expect(oidc.subject).not.toBe(saml.subject);
    expect(oidc.authMethods).toEqual(["pwd", "mfa"]);
  });

  it("falls back to connection and subject", () => {
    const identity = buildIdentity({
      connection: "shib",
      protocol: "saml",
      issuer: "https://idp.example.edu/idp/shibboleth",
      subject: "opaque-123",
      claims: { mail: "bob@example.edu", "urn:oid:2.5.4.42": "Bob", memberOf: "staff" },
      claimsConfig: "generic",
      authenticatedAt: AUTHENTICATED_AT,
    });
    expect(identity.id).toBe("shib:opaque-123");
    expect(identity.email).toBe("bob@example.edu");
    expect(identity.givenName).toBe("Bob");
    expect(identity.groups).toEqual(["staff"]);
  });

  it("never keys on email when tid or oid is missing", () => {
    const identity = buildIdentity({
      connection: "mercy-saml",
      protocol: "saml",
      issuer: "https://sts.windows.net/x/",
      subject: "nameid",
      claims: { ...entraSamlAttributes, "http://schemas.microsoft.com/identity/claims/objectidentifier": undefined },
      claimsConfig: "entra",
      authenticatedAt: AUTHENTICATED_AT,
    });
    expect(identity.id).toBe("mercy-saml:nameid");
  });

  it("applies per-field overrides on a preset", () => {
    const identity = buildIdentity({
      connection: "mercy-saml",
      protocol: "saml",
      issuer: "https://sts.windows.net/x/",
      subject: "nameid",
      claims: { ...entraSamlAttributes, employeeMail: "a.nguyen@mercy.example" },
      claimsConfig: { preset: "entra", email: "employeeMail" },
      authenticatedAt: AUTHENTICATED_AT,
    });
    expect(identity.email).toBe("a.nguyen@mercy.example");
    expect(identity.name).toBe("Alice Nguyen");
  });

  it("marks SAML groups overage", () => {
    const identity = buildIdentity({
      connection: "mercy-saml",
      protocol: "saml",
      issuer: "https://sts.windows.net/x/",
      subject: "nameid",
      claims: {
        "http://schemas.microsoft.com/claims/groups.link":
          "https://graph.windows.net/x/users/y/getMemberObjects",
      },
      claimsConfig: "entra",
      authenticatedAt: AUTHENTICATED_AT,
    });
    expect(identity.groupsOverage).toBe(true);
    expect(identity.groups).toEqual([]);
  });

  it("marks OIDC groups overage", () => {
    for (const claims of [
      { _claim_names: { groups: "src1" }, _claim_sources: { src1: { endpoint: "https://graph" } } },
      { hasgroups: true },
    ]) {
      const identity = buildIdentity({
        connection: "mercy-oidc",
        protocol: "oidc",
        issuer: "https://login.microsoftonline.com/x/v2.0",
        subject: "sub",
        claims,
        claimsConfig: "entra",
        authenticatedAt: AUTHENTICATED_AT,
      });
      expect(identity.groupsOverage).toBe(true);
    }
  });
});
