import { DOMParser, type Document, type Element } from "@xmldom/xmldom";

/** XML namespaces of SAML 2.0 and XML Signature. */
export const NS = {
  protocol: "urn:oasis:names:tc:SAML:2.0:protocol",
  assertion: "urn:oasis:names:tc:SAML:2.0:assertion",
  metadata: "urn:oasis:names:tc:SAML:2.0:metadata",
  dsig: "http://www.w3.org/2000/09/xmldsig#",
  xmlenc: "http://www.w3.org/2001/04/xmlenc#",
} as const;

/** Thrown by {@link parseXml} when the text is not well-formed XML or declares a DTD. */
export class XmlParseError extends Error {
  constructor(
    message: string,
    readonly dtd = false,
  ) {
    super(message);
    this.name = "XmlParseError";
  }
}

/**
 * Tells whether XML text contains a markup declaration other than a comment or CDATA section:
 * `<!DOCTYPE`, `<!ENTITY`, `<!ELEMENT` and the like. SAML messages never need one, and entity
 * declarations are the root of entity-expansion and external-entity attacks.
 */
export function hasMarkupDeclaration(xml: string): boolean {
  return /<!(?!--|\[CDATA\[)/.test(xml);
}

/**
 * Parses XML text into a DOM. Rejects any markup declaration before parsing, and rejects text
 * that the parser reports as malformed (xmldom otherwise recovers silently from some errors).
 */
export function parseXml(xml: string): Document {
  if (hasMarkupDeclaration(xml)) {
    throw new XmlParseError("XML contains a DOCTYPE or other markup declaration", true);
  }
  const problems: string[] = [];
  const parser = new DOMParser({
    onError: (level, message) => {
      if (level !== "warning") problems.push(message);
    },
  });
  let doc: Document;
  try {
    doc = parser.parseFromString(xml, "text/xml");
  } catch (error) {
    throw new XmlParseError(`XML is not well-formed: ${(error as Error).message}`);
  }
  if (problems.length > 0 || !doc.documentElement) {
    throw new XmlParseError(`XML is not well-formed: ${problems[0] ?? "no root element"}`);
  }
  return doc;
}

/** Returns the element children of `parent` with that namespace and local name. */
export function childElements(parent: Element, ns: string, localName: string): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType !== 1) continue;
    const element = node as Element;
    if (element.namespaceURI === ns && element.localName === localName) found.push(element);
  }
  return found;
}

/** Returns the only child element of that name, undefined when absent; throws when repeated. */
export function singleChild(parent: Element, ns: string, localName: string): Element | undefined {
  const found = childElements(parent, ns, localName);
  if (found.length > 1) {
    throw new XmlParseError(
      `<${parent.localName}> contains ${found.length} <${localName}> elements`,
    );
  }
  return found[0];
}

/** Returns every descendant element of that namespace and local name, in document order. */
export function descendants(root: Document | Element, ns: string, localName: string): Element[] {
  return Array.from(root.getElementsByTagNameNS(ns, localName));
}

/** Returns an attribute's value, or undefined when the attribute is absent. */
export function attribute(element: Element, name: string): string | undefined {
  return element.hasAttribute(name) ? (element.getAttribute(name) ?? undefined) : undefined;
}

/**
 * Returns the text of an element: all of its text and CDATA descendants joined, so a comment
 * inside (`a<!---->b`) cannot cut the value short.
 */
export function textOf(element: Element | undefined): string | undefined {
  if (!element) return undefined;
  return (element.textContent ?? "").trim();
}

/** Escapes text for use in XML content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** Formats milliseconds since the epoch as a SAML dateTime (UTC, millisecond precision). */
export function samlInstant(ms: number): string {
  return new Date(ms).toISOString();
}

/** Parses a SAML dateTime; returns undefined for a missing or invalid value. */
export function parseInstant(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    return undefined;
  }
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Shortens a value that a stranger sent, for a log field. */
export function truncate(value: string | undefined, max = 120): string | undefined {
  if (value === undefined) return undefined;
  return value.length > max ? `${value.slice(0, max)}...` : value;
}

/** Returns the base64 body of a PEM certificate without header, footer or line breaks. */
export function pemBody(pem: string): string {
  return pem
    .replace(/-----BEGIN [A-Z ]+-----/g, "")
    .replace(/-----END [A-Z ]+-----/g, "")
    .replace(/\s+/g, "");
}

/** Wraps base64 certificate data (as found in metadata) as a PEM certificate. */
export function certificateToPem(base64: string): string {
  const body = base64.replace(/\s+/g, "");
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}
