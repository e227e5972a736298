import { SignedXml } from "xml-crypto";
import { escapeXml, samlInstant } from "../saml/xml.js";

/**
 * Builds SAML responses shaped like the ones Microsoft Entra ID posts, for the development IdP
 * and for tests. DEVELOPMENT ONLY: nothing here is meant to issue real sign-ins.
 */

/** Entra's attribute names (full URIs) for the claims the demo IdP sends. */
export const ENTRA_ATTRIBUTES = {
  tenantId: "http://schemas.microsoft.com/identity/claims/tenantid",
  objectId: "http://schemas.microsoft.com/identity/claims/objectidentifier",
  email: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
  name: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
  displayName: "http://schemas.microsoft.com/identity/claims/displayname",
  givenName: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
  surname: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
  groups: "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
  role: "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
  authnMethods: "http://schemas.microsoft.com/claims/authnmethodsreferences",
} as const;

/** Everything a response carries; each test may change one field. */
export interface ResponseFields {
  /** Milliseconds since the epoch; IssueInstant and the default time windows derive from it. */
  now: number;
  responseId: string;
  assertionId: string;
  /** Issuer of the Assertion. */
  issuer: string;
  /** Issuer of the Response; null leaves the element out. */
  responseIssuer?: string | null;
  audience: string;
  /** Response Destination; null leaves the attribute out. */
  destination: string | null;
  recipient: string;
  /** InResponseTo of the Response and the SubjectConfirmationData; undefined when unsolicited. */
  inResponseTo?: string;
  /** Raw XML placed inside <NameID>, already escaped (tests put comments there). */
  nameIdXml: string;
  nameIdFormat: string;
  sessionIndex: string;
  notBefore: number;
  notOnOrAfter: number;
  subjectNotOnOrAfter: number;
  authnInstant: number;
  sessionNotOnOrAfter?: number;
  authnContextClassRef: string;
  attributes: Record<string, string | string[]>;
  statusCode?: string;
  subStatusCode?: string;
  statusMessage?: string;
}

/** Returns the fields of an Entra-shaped response issued at `now` (times as Entra sets them). */
export function entraResponseFields(input: {
  now: number;
  tenantId: string;
  acsUrl: string;
  spEntityId: string;
  nameId: string;
  attributes: Record<string, string | string[]>;
  inResponseTo?: string;
  responseId: string;
  assertionId: string;
}): ResponseFields {
  const issuer = `https://sts.windows.net/${input.tenantId}/`;
  const fields: ResponseFields = {
    now: input.now,
    responseId: input.responseId,
    assertionId: input.assertionId,
    issuer,
    responseIssuer: issuer,
    audience: input.spEntityId,
    destination: input.acsUrl,
    recipient: input.acsUrl,
    nameIdXml: escapeXml(input.nameId),
    nameIdFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    sessionIndex: input.assertionId,
    notBefore: input.now - 5 * 60_000,
    notOnOrAfter: input.now + 55 * 60_000,
    subjectNotOnOrAfter: input.now + 5 * 60_000,
    authnInstant: input.now - 1_000,
    authnContextClassRef: "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
    attributes: input.attributes,
  };
  if (input.inResponseTo !== undefined) fields.inResponseTo = input.inResponseTo;
  return fields;
}

function attributeXml(name: string, value: string | string[]): string {
  const values = (Array.isArray(value) ? value : [value])
    .map((item) => `<AttributeValue>${escapeXml(item)}</AttributeValue>`)
    .join("");
  return `<Attribute Name="${escapeXml(name)}">${values}</Attribute>`;
}

/** Builds the unsigned Assertion element (default namespace, as Entra writes it). */
export function buildAssertionXml(f: ResponseFields): string {
  const inResponseTo =
    f.inResponseTo !== undefined ? ` InResponseTo="${escapeXml(f.inResponseTo)}"` : "";
  const sessionEnd =
    f.sessionNotOnOrAfter !== undefined
      ? ` SessionNotOnOrAfter="${samlInstant(f.sessionNotOnOrAfter)}"`
      : "";
  const attributes = Object.entries(f.attributes)
    .map(([name, value]) => attributeXml(name, value))
    .join("");
  return (
    `<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="${escapeXml(f.assertionId)}" IssueInstant="${samlInstant(f.now)}" Version="2.0">` +
    `<Issuer>${escapeXml(f.issuer)}</Issuer>` +
    `<Subject><NameID Format="${escapeXml(f.nameIdFormat)}">${f.nameIdXml}</NameID>` +
    `<SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
    `<SubjectConfirmationData${inResponseTo} NotOnOrAfter="${samlInstant(f.subjectNotOnOrAfter)}" Recipient="${escapeXml(f.recipient)}"/>` +
    `</SubjectConfirmation></Subject>` +
    `<Conditions NotBefore="${samlInstant(f.notBefore)}" NotOnOrAfter="${samlInstant(f.notOnOrAfter)}">` +
    `<AudienceRestriction><Audience>${escapeXml(f.audience)}</Audience></AudienceRestriction></Conditions>` +
    (attributes ? `<AttributeStatement>${attributes}</AttributeStatement>` : "") +
    `<AuthnStatement AuthnInstant="${samlInstant(f.authnInstant)}" SessionIndex="${escapeXml(f.sessionIndex)}"${sessionEnd}>` +
    `<AuthnContext><AuthnContextClassRef>${escapeXml(f.authnContextClassRef)}</AuthnContextClassRef></AuthnContext>` +
    `</AuthnStatement></Assertion>`
  );
}

/** Builds the unsigned Response; `assertionXml` (possibly signed or encrypted) goes inside. */
export function buildResponseXml(f: ResponseFields, assertionXml: string | undefined): string {
  const inResponseTo =
    f.inResponseTo !== undefined ? ` InResponseTo="${escapeXml(f.inResponseTo)}"` : "";
  const destination = f.destination !== null ? ` Destination="${escapeXml(f.destination)}"` : "";
  const issuer =
    f.responseIssuer === null
      ? ""
      : `<Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">${escapeXml(f.responseIssuer ?? f.issuer)}</Issuer>`;
  const sub = f.subStatusCode ? `<samlp:StatusCode Value="${escapeXml(f.subStatusCode)}"/>` : "";
  const statusCode = f.statusCode ?? "urn:oasis:names:tc:SAML:2.0:status:Success";
  const message = f.statusMessage
    ? `<samlp:StatusMessage>${escapeXml(f.statusMessage)}</samlp:StatusMessage>`
    : "";
  return (
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="${escapeXml(f.responseId)}" Version="2.0" IssueInstant="${samlInstant(f.now)}"${destination}${inResponseTo}>` +
    issuer +
    `<samlp:Status><samlp:StatusCode Value="${escapeXml(statusCode)}">${sub}</samlp:StatusCode>${message}</samlp:Status>` +
    (assertionXml ?? "") +
    `</samlp:Response>`
  );
}

/** Signing key, certificate and algorithm. */
export interface SigningKey {
  key: string;
  cert: string;
  /** "sha256" (default, Entra's default) or "sha1" (an option in Entra). */
  algorithm?: "sha256" | "sha1";
}

const ALGORITHMS = {
  sha256: {
    signature: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    digest: "http://www.w3.org/2001/04/xmlenc#sha256",
  },
  sha1: {
    signature: "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    digest: "http://www.w3.org/2000/09/xmldsig#sha1",
  },
};

/**
 * Adds an enveloped signature (exclusive C14N, KeyInfo with the certificate) to the first
 * element named `localName` whose ID is `id`, right after its Issuer, as Entra places it.
 */
export function signElement(
  xml: string,
  localName: string,
  id: string,
  signing: SigningKey,
): string {
  const algorithm = ALGORITHMS[signing.algorithm ?? "sha256"];
  const signer = new SignedXml({
    privateKey: signing.key,
    publicCert: signing.cert,
    signatureAlgorithm: algorithm.signature,
    canonicalizationAlgorithm: "http://www.w3.org/2001/10/xml-exc-c14n#",
    getKeyInfoContent: SignedXml.getKeyInfoContent,
  });
  const target = `//*[local-name(.)='${localName}' and @ID='${id}']`;
  signer.addReference({
    xpath: target,
    transforms: [
      "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
      "http://www.w3.org/2001/10/xml-exc-c14n#",
    ],
    digestAlgorithm: algorithm.digest,
  });
  signer.computeSignature(xml, {
    location: { reference: `${target}/*[local-name(.)='Issuer']`, action: "after" },
  });
  return signer.getSignedXml();
}

/** Signature placement: the assertion, the Response, both or neither. */
export type SignaturePlacement = "assertion" | "response" | "both" | "none";

/** Builds and signs a complete response; returns the XML (not yet base64). */
export function buildSignedResponse(
  f: ResponseFields,
  signing: SigningKey,
  placement: SignaturePlacement = "assertion",
): string {
  let assertion = buildAssertionXml(f);
  if (placement === "assertion" || placement === "both") {
    assertion = signElement(assertion, "Assertion", f.assertionId, signing);
  }
  let response = buildResponseXml(f, assertion);
  if (placement === "response" || placement === "both") {
    response = signElement(response, "Response", f.responseId, signing);
  }
  return response;
}
