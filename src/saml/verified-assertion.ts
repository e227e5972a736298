import type { Element } from "@xmldom/xmldom";
import { NS, attribute, childElements, parseXml, textOf } from "./xml.js";

/** One bearer SubjectConfirmationData. */
export interface BearerConfirmation {
  recipient?: string;
  inResponseTo?: string;
  notBefore?: string;
  notOnOrAfter?: string;
}

/** Fields of an assertion, read from the XML that the signature check returned. */
export interface AssertionFields {
  id?: string;
  issuer?: string;
  nameId?: string;
  nameIdFormat?: string;
  nameQualifier?: string;
  spNameQualifier?: string;
  bearerConfirmations: BearerConfirmation[];
  conditionsCount: number;
  notBefore?: string;
  notOnOrAfter?: string;
  /** Audience values of each AudienceRestriction. */
  audienceRestrictions: string[][];
  authnInstant?: string;
  sessionIndex?: string;
  sessionNotOnOrAfter?: string;
  authnContextClassRefs: string[];
  /** Attribute name to its value, or to a list when it has several values. */
  attributes: Record<string, string | string[]>;
}

const BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

function readSubject(assertion: Element, fields: AssertionFields): void {
  const subject = childElements(assertion, NS.assertion, "Subject")[0];
  if (!subject) return;
  const nameId = childElements(subject, NS.assertion, "NameID")[0];
  if (nameId) {
    // textContent joins every text node, so a comment inside the NameID cannot shorten it.
    const value = textOf(nameId);
    if (value) fields.nameId = value;
    const format = attribute(nameId, "Format");
    const nameQualifier = attribute(nameId, "NameQualifier");
    const spNameQualifier = attribute(nameId, "SPNameQualifier");
    if (format) fields.nameIdFormat = format;
    if (nameQualifier) fields.nameQualifier = nameQualifier;
    if (spNameQualifier) fields.spNameQualifier = spNameQualifier;
  }
  for (const confirmation of childElements(subject, NS.assertion, "SubjectConfirmation")) {
    if (attribute(confirmation, "Method") !== BEARER) continue;
    const data = childElements(confirmation, NS.assertion, "SubjectConfirmationData")[0];
    const bearer: BearerConfirmation = {};
    if (data) {
      for (const name of ["Recipient", "InResponseTo", "NotBefore", "NotOnOrAfter"] as const) {
        const value = attribute(data, name);
        if (value !== undefined) {
          const key = (name.charAt(0).toLowerCase() + name.slice(1)) as keyof BearerConfirmation;
          bearer[key] = value;
        }
      }
    }
    fields.bearerConfirmations.push(bearer);
  }
}

function readConditions(assertion: Element, fields: AssertionFields): void {
  const conditions = childElements(assertion, NS.assertion, "Conditions");
  fields.conditionsCount = conditions.length;
  const first = conditions[0];
  if (!first) return;
  const notBefore = attribute(first, "NotBefore");
  const notOnOrAfter = attribute(first, "NotOnOrAfter");
  if (notBefore !== undefined) fields.notBefore = notBefore;
  if (notOnOrAfter !== undefined) fields.notOnOrAfter = notOnOrAfter;
  for (const restriction of childElements(first, NS.assertion, "AudienceRestriction")) {
    fields.audienceRestrictions.push(
      childElements(restriction, NS.assertion, "Audience").map(
        (audience) => textOf(audience) ?? "",
      ),
    );
  }
}

function readAuthnStatement(assertion: Element, fields: AssertionFields): void {
  for (const statement of childElements(assertion, NS.assertion, "AuthnStatement")) {
    fields.authnInstant ??= attribute(statement, "AuthnInstant");
    fields.sessionIndex ??= attribute(statement, "SessionIndex");
    fields.sessionNotOnOrAfter ??= attribute(statement, "SessionNotOnOrAfter");
    const context = childElements(statement, NS.assertion, "AuthnContext")[0];
    const classRef = context
      ? textOf(childElements(context, NS.assertion, "AuthnContextClassRef")[0])
      : undefined;
    if (classRef) fields.authnContextClassRefs.push(classRef);
  }
}

function readAttributes(assertion: Element, fields: AssertionFields): void {
  const collected = new Map<string, string[]>();
  for (const statement of childElements(assertion, NS.assertion, "AttributeStatement")) {
    for (const element of childElements(statement, NS.assertion, "Attribute")) {
      const name = attribute(element, "Name");
      if (!name) continue;
      const values = childElements(element, NS.assertion, "AttributeValue").map(
        (value) => textOf(value) ?? "",
      );
      collected.set(name, [...(collected.get(name) ?? []), ...values]);
    }
  }
  for (const [name, values] of collected) {
    if (values.length === 0) continue;
    fields.attributes[name] = values.length === 1 ? (values[0] ?? "") : values;
  }
}

/**
 * Reads the fields of an assertion from verified XML: the signed assertion, or the assertion
 * inside a signed Response, as returned by the signature check.
 */
export function readAssertionFields(verifiedAssertionXml: string): AssertionFields {
  const assertion = parseXml(verifiedAssertionXml).documentElement as Element;
  if (assertion.namespaceURI !== NS.assertion || assertion.localName !== "Assertion") {
    throw new Error("the verified XML is not an Assertion");
  }
  const fields: AssertionFields = {
    bearerConfirmations: [],
    conditionsCount: 0,
    audienceRestrictions: [],
    authnContextClassRefs: [],
    attributes: Object.create(null) as Record<string, string | string[]>,
  };
  const id = attribute(assertion, "ID");
  if (id) fields.id = id;
  const issuer = textOf(childElements(assertion, NS.assertion, "Issuer")[0]);
  if (issuer) fields.issuer = issuer;
  readSubject(assertion, fields);
  readConditions(assertion, fields);
  readAuthnStatement(assertion, fields);
  readAttributes(assertion, fields);
  return fields;
}
