import type { Element } from "@xmldom/xmldom";
import { SignedXml } from "xml-crypto";
import {
  NS,
  XmlParseError,
  attribute,
  certificateToPem,
  childElements,
  parseXml,
  parseInstant,
  textOf,
} from "./xml.js";
import { parseXmlDurationMs } from "./xml-duration.js";

/** Entity ID, endpoints and signing certificates read from an IdP's SAML 2.0 metadata. */
export interface IdpMetadata {
  /** The IdP's entity ID (Entra: `https://sts.windows.net/<tenant id>/`). */
  entityId: string;
  /** SingleSignOnService location for the HTTP-Redirect binding. */
  ssoRedirectUrl?: string;
  /** SingleLogoutService location for the HTTP-Redirect binding. */
  sloRedirectUrl?: string;
  /** Signing certificates as PEM, in document order and without duplicates. */
  signingCerts: string[];
  /** Earliest `validUntil` of the root, the entity and its IDPSSODescriptor, in ms since the epoch. */
  validUntilMs?: number;
  /** Shortest `cacheDuration` of the root, the entity and its IDPSSODescriptor, in milliseconds. */
  cacheDurationMs?: number;
}

/**
 * Reason a metadata document was rejected. `fetch_failed`: the download failed. `malformed`:
 * the XML is not well-formed. `signature_invalid`: the signature that idp.metadataSigningCert
 * requires is missing or wrong. `not_saml_idp`: no SAML 2.0 IdP is described (for example
 * WS-Federation only). `expired`: validUntil has passed. `entity_changed`: another entity
 * than the copy in use. `invalid`: unusable for another reason.
 */
export type MetadataRejection =
  | "fetch_failed"
  | "malformed"
  | "signature_invalid"
  | "not_saml_idp"
  | "expired"
  | "entity_changed"
  | "unreadable"
  | "invalid";

/** Invalid metadata. The message states the problem in words an administrator can act on. */
export class MetadataError extends Error {
  constructor(
    message: string,
    readonly reason: MetadataRejection = "invalid",
  ) {
    super(message);
    this.name = "MetadataError";
  }
}

const REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/**
 * Parses IdP metadata. Takes the `IDPSSODescriptor` whose protocolSupportEnumeration lists
 * SAML 2.0 and skips other role descriptors, because Entra's documents put WS-Federation
 * `RoleDescriptor`s first. When `signingCertPem` is given, the document must carry a valid
 * enveloped signature by that certificate, and only the signed content is read.
 */
export function parseIdpMetadata(xml: string, signingCertPem?: string): IdpMetadata {
  let doc;
  try {
    doc = parseXml(xml);
  } catch (error) {
    if (error instanceof XmlParseError && error.dtd) {
      throw new MetadataError(
        "the metadata contains a DOCTYPE, which is not accepted",
        "malformed",
      );
    }
    throw new MetadataError(
      `the metadata is not well-formed XML (${(error as Error).message})`,
      "malformed",
    );
  }
  let root = doc.documentElement as Element;
  if (signingCertPem !== undefined) {
    root = verifiedRoot(xml, root, signingCertPem);
  }
  const entity = selectEntityDescriptor(root);
  const entityId = attribute(entity, "entityID");
  if (!entityId) throw new MetadataError("the EntityDescriptor has no entityID attribute");

  const idpDescriptor = childElements(entity, NS.metadata, "IDPSSODescriptor").find((element) =>
    (attribute(element, "protocolSupportEnumeration") ?? "").split(/\s+/).includes(NS.protocol),
  );
  if (!idpDescriptor) {
    throw new MetadataError(
      `entity ${entityId} has no IDPSSODescriptor for SAML 2.0; this is not SAML IdP metadata`,
      "not_saml_idp",
    );
  }

  const signingCerts: string[] = [];
  for (const keyDescriptor of childElements(idpDescriptor, NS.metadata, "KeyDescriptor")) {
    const use = attribute(keyDescriptor, "use");
    if (use !== undefined && use !== "signing") continue;
    for (const certElement of Array.from(
      keyDescriptor.getElementsByTagNameNS(NS.dsig, "X509Certificate"),
    )) {
      const base64 = textOf(certElement) ?? "";
      if (base64 === "") continue;
      const pem = certificateToPem(base64);
      if (!signingCerts.includes(pem)) signingCerts.push(pem);
    }
  }
  if (signingCerts.length === 0) {
    throw new MetadataError(`the IDPSSODescriptor of ${entityId} lists no signing certificate`);
  }

  const endpoint = (name: string) =>
    childElements(idpDescriptor, NS.metadata, name).find(
      (element) => attribute(element, "Binding") === REDIRECT_BINDING,
    );
  const metadata: IdpMetadata = { entityId, signingCerts };
  const lifetimeElements = [root, entity, idpDescriptor];
  const validUntilMs = earliest(lifetimeElements, "validUntil", parseInstant);
  const cacheDurationMs = earliest(lifetimeElements, "cacheDuration", parseXmlDurationMs);
  if (validUntilMs !== undefined) metadata.validUntilMs = validUntilMs;
  if (cacheDurationMs !== undefined) metadata.cacheDurationMs = cacheDurationMs;
  const sso = endpoint("SingleSignOnService");
  const slo = endpoint("SingleLogoutService");
  if (sso) metadata.ssoRedirectUrl = attribute(sso, "Location");
  if (slo) metadata.sloRedirectUrl = attribute(slo, "Location");
  return metadata;
}

/** Returns the smallest parsed value of an attribute across elements; throws on a bad value. */
function earliest(
  elements: Element[],
  name: string,
  parse: (text: string) => number | undefined,
): number | undefined {
  let result: number | undefined;
  for (const element of elements) {
    const text = attribute(element, name);
    if (text === undefined) continue;
    const value = parse(text);
    if (value === undefined) {
      throw new MetadataError(`the metadata has an invalid ${name} value`, "malformed");
    }
    result = result === undefined ? value : Math.min(result, value);
  }
  return result;
}

function selectEntityDescriptor(root: Element): Element {
  if (root.namespaceURI === NS.metadata && root.localName === "EntityDescriptor") return root;
  if (root.namespaceURI === NS.metadata && root.localName === "EntitiesDescriptor") {
    const withIdp = childElements(root, NS.metadata, "EntityDescriptor").filter(
      (entity) => childElements(entity, NS.metadata, "IDPSSODescriptor").length > 0,
    );
    if (withIdp.length === 1 && withIdp[0]) return withIdp[0];
    throw new MetadataError(
      `the EntitiesDescriptor contains ${withIdp.length} IdP entities; give the metadata of exactly one IdP`,
      withIdp.length === 0 ? "not_saml_idp" : "invalid",
    );
  }
  throw new MetadataError(`the root element is <${root.localName}>, not <EntityDescriptor>`);
}

/** Verifies the enveloped signature of the metadata root and returns the signed root. */
function verifiedRoot(xml: string, root: Element, signingCertPem: string): Element {
  const signatures = childElements(root, NS.dsig, "Signature");
  const signature = signatures[0];
  if (signatures.length !== 1 || !signature) {
    throw new MetadataError(
      `the metadata must carry exactly one signature because idp.metadataSigningCert is set (found ${signatures.length})`,
      "signature_invalid",
    );
  }

  const verifier = new SignedXml({ publicCert: signingCertPem });
  try {
    verifier.loadSignature(signature);
  } catch (error) {
    throw new MetadataError(
      `the metadata signature cannot be read (${(error as Error).message})`,
      "signature_invalid",
    );
  }

  const references = verifier.getReferences();
  const rootId = attribute(root, "ID");
  if (references.length !== 1 || !rootId || references[0]?.uri !== `#${rootId}`) {
    throw new MetadataError(
      "the metadata signature must reference the root element by its ID",
      "signature_invalid",
    );
  }

  let valid = false;
  try {
    valid = verifier.checkSignature(xml.replace(/\r\n?/g, "\n"));
  } catch {
    valid = false;
  }

  const signed = verifier.getSignedReferences()[0];
  if (!valid || signed === undefined) {
    throw new MetadataError(
      "the metadata signature does not verify with idp.metadataSigningCert",
      "signature_invalid",
    );
  }
  return parseXml(signed).documentElement as Element;
}

/** Maximum size of a metadata document fetched from idp.metadataUrl, in bytes. */
export const MAX_METADATA_BYTES = 2 * 1024 * 1024;
/** Time limit for fetching idp.metadataUrl, in milliseconds. */
export const METADATA_FETCH_TIMEOUT_MS = 10_000;

/** A downloaded metadata document and the HTTP `Date` header it came with. */
export interface FetchedMetadata {
  xml: string;
  /** The response's `Date` header, in milliseconds since the epoch, when present and valid. */
  serverDateMs?: number;
}

/** Downloads metadata text from a URL with a time limit and a size limit. */
export async function fetchMetadata(url: string): Promise<string> {
  return (await fetchMetadataDocument(url)).xml;
}

/**
 * Downloads metadata from a URL within `timeoutMs` and {@link MAX_METADATA_BYTES}; also returns
 * the server's `Date` header for clock checks. Throws MetadataError with reason `fetch_failed`.
 */
export async function fetchMetadataDocument(
  url: string,
  timeoutMs = METADATA_FETCH_TIMEOUT_MS,
): Promise<FetchedMetadata> {
  let response: Response;
  try {
    response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "follow",
      headers: { accept: "application/samlmetadata+xml, application/xml, text/xml" },
    });
  } catch (error) {
    const reason =
      (error as Error).name === "TimeoutError" ? "timed out" : (error as Error).message;
    throw new MetadataError(`fetching the metadata failed: ${reason}`, "fetch_failed");
  }

  if (!response.ok) {
    throw new MetadataError(
      `fetching the metadata failed with HTTP status ${response.status}`,
      "fetch_failed",
    );
  }
  const tooLarge = () =>
    new MetadataError(`the metadata is larger than ${MAX_METADATA_BYTES} bytes`, "fetch_failed");
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > MAX_METADATA_BYTES) throw tooLarge();

  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    if (response.body) {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        total += chunk.byteLength;
        if (total > MAX_METADATA_BYTES) throw tooLarge();
        chunks.push(chunk);
      }
    }
  } catch (error) {
    if (error instanceof MetadataError) throw error;
    throw new MetadataError(
      `reading the metadata failed: ${(error as Error).message}`,
      "fetch_failed",
    );
  }

  const fetched: FetchedMetadata = { xml: Buffer.concat(chunks).toString("utf8") };
  const serverDateMs = Date.parse(response.headers.get("date") ?? "");
  if (Number.isFinite(serverDateMs)) fetched.serverDateMs = serverDateMs;
  return fetched;
}
