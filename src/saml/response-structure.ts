import type { Document, Element } from "@xmldom/xmldom";
import { decryptXml } from "@node-saml/node-saml/lib/xml.js";
import { SignInError, type ErrorCode, type LogDetails } from "../errors.js";
import { entraFix } from "./entra-errors.js";
import type { SamlSettings } from "./settings.js";
import {
  NS,
  XmlParseError,
  attribute,
  childElements,
  descendants,
  hasMarkupDeclaration,
  parseXml,
  textOf,
  truncate,
} from "./xml.js";

const STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success";

const STRONG_SIGNATURE_METHODS = [
  "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
  "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
  "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
];
const STRONG_DIGEST_METHODS = [
  "http://www.w3.org/2001/04/xmlenc#sha256",
  "http://www.w3.org/2001/04/xmldsig-more#sha384",
  "http://www.w3.org/2001/04/xmlenc#sha512",
];
const SHA1_SIGNATURE_METHOD = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1_DIGEST_METHOD = "http://www.w3.org/2000/09/xmldsig#sha1";

/**
 * Upper bounds on the element count and nesting depth of a SAML response. An Entra response,
 * even with 150 group values, has a few hundred elements and a depth under 15. The XPath
 * lookups inside node-saml's signature check grow faster than linearly with the element count
 * (about 0.4 s of CPU for 2,500 sibling elements on a 2-core Xeon), so larger documents are
 * rejected before any signature work.
 */
export const MAX_RESPONSE_ELEMENTS = 2_000;
export const MAX_RESPONSE_DEPTH = 40;

/** A Response that passed the checks possible before signature verification. */
export interface CheckedResponse {
  /** The decoded XML exactly as node-saml will read it. */
  xml: string;
  response: Element;
  responseId: string | undefined;
  /** True when the only assertion is an EncryptedAssertion. */
  encrypted: boolean;
}

/** Builds a SignInError for the connection, with log details; the thrower adds the message. */
export function samlError(
  settings: SamlSettings,
  code: ErrorCode,
  message: string,
  logDetails: LogDetails = {},
  extra: { fix?: string; providerMessage?: string; cause?: unknown } = {},
): SignInError {
  return new SignInError(code, message, {
    connection: settings.connectionId,
    logDetails,
    ...extra,
  });
}

/**
 * Decodes the SAMLResponse form value. Rejects text that is not base64, any DOCTYPE or entity
 * declaration (checked on the raw text before any parser reads it), and malformed XML.
 */
export function decodeResponse(
  settings: SamlSettings,
  samlResponse: string,
): { xml: string; doc: Document } {
  const compact = samlResponse.replace(/\s+/g, "");
  if (compact === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) {
    throw samlError(settings, "SAML_MALFORMED", "The SAMLResponse field is not base64.");
  }
  const xml = Buffer.from(compact, "base64").toString("utf8");
  if (hasMarkupDeclaration(xml)) {
    throw samlError(
      settings,
      "SAML_DTD_FORBIDDEN",
      "The SAML response contains a DOCTYPE or entity declaration.",
    );
  }
  let doc: Document;
  try {
    doc = parseXml(xml);
  } catch (error) {
    throw samlError(settings, "SAML_MALFORMED", "The SAML response is not well-formed XML.", {
      reason: truncate((error as XmlParseError).message),
    });
  }
  checkDocumentSize(settings, doc);
  return { xml, doc };
}

/** Rejects a document with more elements or deeper nesting than any real SAML response. */
function checkDocumentSize(settings: SamlSettings, doc: Document): void {
  let elements = 0;
  const pending: Array<{ node: Element; depth: number }> = [];
  const root = doc.documentElement;
  if (root) pending.push({ node: root as Element, depth: 1 });
  while (pending.length > 0) {
    const { node, depth } = pending.pop() as { node: Element; depth: number };
    elements += 1;
    if (elements > MAX_RESPONSE_ELEMENTS || depth > MAX_RESPONSE_DEPTH) {
      throw samlError(
        settings,
        "SAML_MALFORMED",
        `The SAML response has more than ${MAX_RESPONSE_ELEMENTS} elements or is nested deeper than ${MAX_RESPONSE_DEPTH} levels.`,
        { elementsSeen: elements, depth },
      );
    }
    for (let child = node.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === 1) pending.push({ node: child as unknown as Element, depth: depth + 1 });
    }
  }
}

/** Throws SAML_STATUS_NOT_SUCCESS with the IdP's status codes and message when not Success. */
export function checkStatus(
  settings: SamlSettings,
  response: Element,
  logDetails: LogDetails,
): void {
  const status = childElements(response, NS.protocol, "Status")[0];
  const topCode = status ? childElements(status, NS.protocol, "StatusCode")[0] : undefined;
  const topValue = topCode ? attribute(topCode, "Value") : undefined;
  if (topValue === STATUS_SUCCESS) return;

  const codes: string[] = [];
  for (let code = topCode; code; code = childElements(code, NS.protocol, "StatusCode")[0]) {
    codes.push(
      (attribute(code, "Value") ?? "").replace(/^urn:oasis:names:tc:SAML:2\.0:status:/, ""),
    );
  }
  const statusMessage = status
    ? textOf(childElements(status, NS.protocol, "StatusMessage")[0])
    : undefined;
  const shownMessage = truncate(statusMessage?.replace(/\s+/g, " "), 500);
  const providerMessage = [codes.join(" / ") || "no StatusCode", shownMessage]
    .filter(Boolean)
    .join(": ");
  const fix = entraFix(statusMessage, settings);
  throw samlError(
    settings,
    "SAML_STATUS_NOT_SUCCESS",
    `The identity provider answered with status ${codes.join(" / ") || "(missing)"} instead of Success.`,
    { ...logDetails, status: codes.join("/"), statusMessage: shownMessage },
    { providerMessage, ...(fix ? { fix } : {}) },
  );
}

export function checkAlgorithms(
  settings: SamlSettings,
  root: Document | Element,
  logDetails: LogDetails,
): void {
  const signatureMethods = STRONG_SIGNATURE_METHODS.concat(
    settings.allowSha1 ? [SHA1_SIGNATURE_METHOD] : [],
  );
  const digestMethods = STRONG_DIGEST_METHODS.concat(
    settings.allowSha1 ? [SHA1_DIGEST_METHOD] : [],
  );
  // Only methods inside SignedInfo count: xmlenc's RSA-OAEP key transport also carries a
  // ds:DigestMethod (SHA-1 by default), which is no signature digest.
  const signedInfos = descendants(root, NS.dsig, "SignedInfo");
  const check = (localName: string, allowed: string[]) => {
    for (const element of signedInfos.flatMap((info) => descendants(info, NS.dsig, localName))) {
      const algorithm = attribute(element, "Algorithm") ?? "";
      if (!allowed.includes(algorithm)) {
        throw samlError(
          settings,
          "SAML_WEAK_ALGORITHM",
          `The SAML signature uses ${localName} ${truncate(algorithm, 80)}, which this connection does not accept.`,
          { ...logDetails, algorithm: truncate(algorithm, 100) },
        );
      }
    }
  };
  check("SignatureMethod", signatureMethods);
  check("DigestMethod", digestMethods);
}

function checkSingleAssertion(
  settings: SamlSettings,
  root: Document | Element,
  logDetails: LogDetails,
): void {
  const plain = descendants(root, NS.assertion, "Assertion").length;
  const encrypted = descendants(root, NS.assertion, "EncryptedAssertion").length;
  if (plain + encrypted !== 1) {
    throw samlError(
      settings,
      "SAML_ASSERTION_COUNT",
      `The SAML response contains ${plain} assertion(s) and ${encrypted} encrypted assertion(s); exactly one is accepted.`,
      { ...logDetails, assertions: plain, encryptedAssertions: encrypted },
    );
  }
}

function checkUniqueIds(settings: SamlSettings, root: Document, logDetails: LogDetails): void {
  const seen = new Set<string>();
  for (const element of Array.from(root.getElementsByTagName("*"))) {
    for (const name of ["ID", "Id", "id"]) {
      const value = attribute(element, name);
      if (value === undefined) continue;
      if (seen.has(value)) {
        throw samlError(
          settings,
          "SAML_SIGNATURE_INVALID",
          "The SAML response repeats an element ID.",
          {
            ...logDetails,
            duplicateId: truncate(value, 80),
          },
        );
      }
      seen.add(value);
    }
  }
}

/**
 * Checks what can be checked before signature verification: the root is a Response, its
 * status is Success, it contains exactly one assertion anywhere in the document (so an assertion
 * wrapped in Extensions, an Object or a Signature is rejected), element IDs are unique, every
 * signature uses an accepted algorithm, and the Response or the assertion carries a signature.
 * An EncryptedAssertion is decrypted for these checks, and node-saml decrypts it again.
 */
export async function checkResponseStructure(
  settings: SamlSettings,
  xml: string,
  doc: Document,
): Promise<CheckedResponse> {
  const response = doc.documentElement as Element;
  if (response.namespaceURI !== NS.protocol || response.localName !== "Response") {
    throw samlError(settings, "SAML_MALFORMED", "The SAML message is not a Response.", {
      rootElement: truncate(response.localName ?? undefined, 60),
    });
  }
  const responseId = attribute(response, "ID");
  const logDetails: LogDetails = {
    responseId: truncate(responseId, 80),
    inResponseTo: truncate(attribute(response, "InResponseTo"), 80),
    issuer: truncate(textOf(childElements(response, NS.assertion, "Issuer")[0])),
  };
  checkStatus(settings, response, logDetails);
  checkSingleAssertion(settings, doc, logDetails);
  checkUniqueIds(settings, doc, logDetails);
  checkAlgorithms(settings, doc, logDetails);

  const direct = childElements(response, NS.assertion, "Assertion");
  const encryptedElements = childElements(response, NS.assertion, "EncryptedAssertion");
  if (direct.length + encryptedElements.length !== 1) {
    throw samlError(
      settings,
      "SAML_ASSERTION_COUNT",
      "The assertion is not a direct child of the Response.",
      logDetails,
    );
  }
  const responseSigned = childElements(response, NS.dsig, "Signature").length > 0;
  let assertionSigned = direct[0]
    ? childElements(direct[0], NS.dsig, "Signature").length > 0
    : false;

  const encryptedElement = encryptedElements[0];
  if (encryptedElement) {
    if (!settings.spDecryptionKey) {
      throw samlError(
        settings,
        "SAML_DECRYPTION_FAILED",
        "The assertion is encrypted, but this connection has no decryption key.",
        logDetails,
        {
          fix: "Set sp.decryptionKey and sp.decryptionCert on the connection, or turn off token encryption in the IdP.",
        },
      );
    }
    let decrypted: Document;
    try {
      decrypted = parseXml(await decryptXml(encryptedElement.toString(), settings.spDecryptionKey));
    } catch (error) {
      throw samlError(
        settings,
        "SAML_DECRYPTION_FAILED",
        "The encrypted assertion could not be decrypted.",
        {
          ...logDetails,
          reason: truncate((error as Error).message),
        },
      );
    }
    const root = decrypted.documentElement as Element;
    if (root.namespaceURI !== NS.assertion || root.localName !== "Assertion") {
      throw samlError(
        settings,
        "SAML_DECRYPTION_FAILED",
        "The encrypted element does not hold an Assertion.",
        logDetails,
      );
    }
    checkSingleAssertion(settings, decrypted, logDetails);
    checkAlgorithms(settings, decrypted, logDetails);
    assertionSigned = childElements(root, NS.dsig, "Signature").length > 0;
  }
  if (!responseSigned && !assertionSigned) {
    throw samlError(
      settings,
      "SAML_SIGNATURE_MISSING",
      "Neither the SAML response nor its assertion is signed.",
      logDetails,
    );
  }
  return { xml, response, responseId, encrypted: encryptedElement !== undefined };
}
