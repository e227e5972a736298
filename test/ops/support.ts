import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { SignedXml } from "xml-crypto";
import { createApp } from "../../src/http/create-sign-in.js";
import { createLogger } from "../../src/logger.js";
import { pemBody } from "../../src/saml/xml.js";
import {
  IDP_ENTITY_ID,
  IDP_SLO_URL,
  IDP_SSO_URL,
  SamlHarness,
  samlConfig,
  type SigningKey,
} from "../support/saml-harness.js";

const MD = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS = "http://www.w3.org/2000/09/xmldsig#";
const REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/** What an IdP metadata document built by {@link idpMetadataXml} contains. */
export interface MetadataShape {
  signingCerts: string[];
  entityId?: string;
  validUntil?: number;
  cacheDuration?: string;
  /** Only a WS-Federation RoleDescriptor, no IDPSSODescriptor. */
  wsFedOnly?: boolean;
}

/** Builds IdP metadata in the shape Entra publishes (ID on the root, signing KeyDescriptors). */
export function idpMetadataXml(shape: MetadataShape): string {
  const keys = shape.signingCerts
    .map(
      (pem) =>
        `<KeyDescriptor use="signing"><KeyInfo xmlns="${DS}"><X509Data><X509Certificate>${pemBody(pem)}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>`,
    )
    .join("");
  const validUntil =
    shape.validUntil !== undefined
      ? ` validUntil="${new Date(shape.validUntil).toISOString()}"`
      : "";
  const cacheDuration =
    shape.cacheDuration !== undefined ? ` cacheDuration="${shape.cacheDuration}"` : "";
  const descriptor = shape.wsFedOnly
    ? `<RoleDescriptor xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706" xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706">${keys}</RoleDescriptor>`
    : `<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${keys}` +
      `<SingleLogoutService Binding="${REDIRECT}" Location="${IDP_SLO_URL}"/>` +
      `<SingleSignOnService Binding="${REDIRECT}" Location="${IDP_SSO_URL}"/></IDPSSODescriptor>`;
  return (
    `<?xml version="1.0" encoding="utf-8"?>` +
    `<EntityDescriptor xmlns="${MD}" ID="_metadata1" entityID="${shape.entityId ?? IDP_ENTITY_ID}"${validUntil}${cacheDuration}>` +
    `${descriptor}</EntityDescriptor>`
  );
}

/** Adds an enveloped RSA-SHA256 signature over the root element, first child, as Entra does. */
export function signMetadata(xml: string, signing: SigningKey): string {
  const signer = new SignedXml({
    privateKey: signing.key,
    publicCert: signing.cert,
    signatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    canonicalizationAlgorithm: "http://www.w3.org/2001/10/xml-exc-c14n#",
    getKeyInfoContent: SignedXml.getKeyInfoContent,
  });
  signer.addReference({
    xpath: "/*",
    transforms: [
      "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
      "http://www.w3.org/2001/10/xml-exc-c14n#",
    ],
    digestAlgorithm: "http://www.w3.org/2001/04/xmlenc#sha256",
  });
  signer.computeSignature(xml, { location: { reference: "/*", action: "prepend" } });
  return signer.getSignedXml();
}

/** A loopback HTTP server whose response a test changes between requests. */
export class DocumentServer {
  body = "";
  status = 200;
  contentType = "application/samlmetadata+xml";
  /** Added to the real time in the Date header, to simulate a server with another clock. */
  dateOffsetMs = 0;
  /** Paths requested so far. */
  readonly requests: string[] = [];
  /** Bodies by path; paths not listed get `body`. */
  readonly routes = new Map<string, { status?: number; body: string; contentType?: string }>();
  private server!: Server;

  static async start(): Promise<DocumentServer> {
    const documents = new DocumentServer();
    documents.server = createServer((req, res) => {
      const requestPath = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
      documents.requests.push(requestPath);
      const route = documents.routes.get(requestPath);
      res.setHeader("Date", new Date(Date.now() + documents.dateOffsetMs).toUTCString());
      res.setHeader("Content-Type", route?.contentType ?? documents.contentType);
      res.statusCode = route?.status ?? documents.status;
      res.end(route?.body ?? documents.body);
    });
    await new Promise<void>((resolve) => documents.server.listen(0, "127.0.0.1", resolve));
    return documents;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get url(): string {
    return `${this.origin}/federationmetadata.xml`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Creates a temporary folder for the metadata disk cache; cleanup() removes it. */
export function temporaryFolder(prefix: string): { folder: string; cleanup: () => void } {
  const folder = mkdtempSync(path.join(tmpdir(), prefix));
  return { folder, cleanup: () => rmSync(folder, { recursive: true, force: true }) };
}

/** Log lines written by a pino logger, parsed. */
export class LogCapture {
  readonly raw: string[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      this.raw.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      done();
    },
  });
  readonly logger = createLogger("debug", this.stream);

  lines(): Array<Record<string, unknown>> {
    return this.raw.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

/**
 * Starts a SAML harness whose IdP comes from `idp` (metadataUrl and related keys), logging to
 * `logs`. `extra` overrides other connection keys, and `startAtMs` sets the fake clock first.
 */
export async function startHarness(
  idp: Record<string, unknown>,
  logs = new LogCapture(),
  extra: Record<string, unknown> = {},
  startAtMs?: number,
): Promise<{ harness: SamlHarness; logs: LogCapture }> {
  const harness = new SamlHarness();
  if (startAtMs !== undefined) harness.clock.current = startAtMs;
  const { app, signIn } = await createApp(samlConfig({ idp, ...extra }), {
    clock: harness.clock,
    ids: harness.ids,
    auditSink: harness.audit,
    logger: logs.logger,
  });
  harness.app = app;
  harness.signIn = signIn;
  return { harness, logs };
}
