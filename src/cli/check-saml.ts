import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { isLoopbackUrl, readPem } from "../config/load.js";
import type { ParsedSamlConnection } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import {
  MetadataError,
  parseIdpMetadata,
  type IdpMetadata,
  type MetadataRejection,
} from "../saml/idp-metadata.js";
import { connectionKey, loadSamlSettings } from "../saml/settings.js";
import {
  checkCertificateExpiry,
  checkClockOffset,
  fetchDocument,
  FindingList,
  type CheckContext,
} from "./check-support.js";

const ENTRA_METADATA_HINT =
  "Entra: enterprise app > Single sign-on > SAML Certificates > App Federation Metadata Url";

/** Fix text for each reason a metadata document is rejected. */
function metadataFix(reason: MetadataRejection, sourceKey: string): string {
  switch (reason) {
    case "fetch_failed":
      return `Check idp.${sourceKey} and that this host can reach it (DNS, proxy, firewall); ${ENTRA_METADATA_HINT}.`;
    case "malformed":
      return `Point idp.${sourceKey} at the IdP's SAML 2.0 metadata XML (${ENTRA_METADATA_HINT}).`;
    case "signature_invalid":
      return "Set idp.metadataSigningCert to the certificate the IdP signs its metadata with (Entra: the app's SAML signing certificate), or remove idp.metadataSigningCert.";
    case "not_saml_idp":
      return `This document describes no SAML 2.0 identity provider (for example WS-Federation only). Use the SAML metadata of the IdP (${ENTRA_METADATA_HINT}).`;
    case "expired":
      return "The IdP publishes metadata past its validUntil. Ask the IdP operator to publish a current document, or point at one.";
    case "unreadable":
      return `Give the path of the IdP metadata file in idp.${sourceKey}, relative to the config file.`;
    case "entity_changed":
    case "invalid":
      return `Use the metadata of exactly one SAML IdP (${ENTRA_METADATA_HINT}).`;
  }
}

/** Downloads or reads the connection's metadata; returns undefined after reporting a failure. */
async function readMetadataText(
  conn: ParsedSamlConnection,
  context: CheckContext,
  findings: FindingList,
): Promise<string | undefined> {
  const { metadataUrl, metadataFile } = conn.idp;
  if (metadataUrl !== undefined) {
    if (
      metadataUrl.startsWith("http:") &&
      !isLoopbackUrl(metadataUrl) &&
      conn.idp.metadataSigningCert === undefined
    ) {
      findings.error(
        `idp.metadataUrl ${metadataUrl} uses plain http, so anyone on the network path can replace the IdP's keys`,
        "Use the https URL of the metadata, or set idp.metadataSigningCert so only signed metadata is accepted.",
      );
    }
    try {
      const fetched = await fetchDocument(
        metadataUrl,
        context,
        "application/samlmetadata+xml, application/xml, text/xml",
      );
      checkClockOffset(findings, metadataUrl, fetched, conn.clockSkew);
      if (fetched.status !== 200) {
        findings.error(
          `idp.metadataUrl answered HTTP status ${fetched.status}`,
          metadataFix("fetch_failed", "metadataUrl"),
        );
        return undefined;
      }
      return fetched.text;
    } catch (error) {
      findings.error(
        `fetching idp.metadataUrl ${metadataUrl} failed: ${(error as Error).message}`,
        metadataFix("fetch_failed", "metadataUrl"),
      );
      return undefined;
    }
  }
  if (metadataFile !== undefined) {
    const file = path.resolve(context.config.configDir, metadataFile);
    try {
      return readFileSync(file, "utf8");
    } catch (error) {
      findings.error(
        `idp.metadataFile ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        "Give the path of the IdP's metadata XML, relative to the config file.",
      );
    }
  }
  return undefined;
}

/** Reads idp.metadataSigningCert; reports and returns null when it is unreadable. */
function metadataSigningCert(
  conn: ParsedSamlConnection,
  context: CheckContext,
  findings: FindingList,
): string | undefined | null {
  const value = conn.idp.metadataSigningCert;
  if (value === undefined) return undefined;
  try {
    return readPem(value, context.config.configDir, "idp.metadataSigningCert");
  } catch (error) {
    findings.error(
      error instanceof ConfigError ? error.problems.join("; ") : (error as Error).message,
      "Give idp.metadataSigningCert as PEM text or the path of a PEM file.",
    );
    return null;
  }
}

/** Loads and checks the IdP metadata: kind, signature, validUntil and entity ID. */
async function checkMetadata(
  conn: ParsedSamlConnection,
  context: CheckContext,
  findings: FindingList,
): Promise<IdpMetadata | undefined> {
  const sourceKey = conn.idp.metadataUrl !== undefined ? "metadataUrl" : "metadataFile";
  const signingCert = metadataSigningCert(conn, context, findings);
  const xml = await readMetadataText(conn, context, findings);
  if (xml === undefined || signingCert === null) return undefined;

  let metadata: IdpMetadata;
  try {
    metadata = parseIdpMetadata(xml, signingCert);
  } catch (error) {
    if (!(error instanceof MetadataError)) throw error;
    findings.error(`idp.${sourceKey}: ${error.message}`, metadataFix(error.reason, sourceKey));
    return undefined;
  }

  const nowMs = context.clock.now();
  if (metadata.validUntilMs !== undefined && metadata.validUntilMs <= nowMs) {
    findings.error(
      `idp.${sourceKey}: the metadata expired at ${new Date(metadata.validUntilMs).toISOString()} (validUntil)`,
      metadataFix("expired", sourceKey),
    );
  }

  const configured = conn.idp.entityId;
  if (configured !== undefined && configured !== metadata.entityId) {
    findings.error(
      `idp.entityId is ${configured}, but the metadata names the IdP ${metadata.entityId}`,
      `Set idp.entityId to ${metadata.entityId}, or remove it so the metadata's entity ID is used.`,
    );
  }
  if (configured === undefined && metadata.entityId.includes("{tenantid}")) {
    findings.error(
      `the metadata names the IdP ${metadata.entityId}, Entra's multi-tenant template`,
      `Use the App Federation Metadata Url of the enterprise app, or set idp.entityId to https://sts.windows.net/<your tenant id>/.`,
    );
  }
  return metadata;
}

/** Checks the trusted IdP signing certificates; an expired one is an error only if all are. */
function checkIdpCertificates(
  conn: ParsedSamlConnection,
  context: CheckContext,
  metadata: IdpMetadata | undefined,
  findings: FindingList,
): void {
  const nowMs = context.clock.now();
  const configured = conn.idp.certificates;
  const entries: Array<{ label: string; pem: string }> = [];
  if (configured !== undefined) {
    configured.forEach((value, index) => {
      const label = `idp.certificates[${index}]`;
      try {
        entries.push({ label, pem: readPem(value, context.config.configDir, label) });
      } catch (error) {
        findings.error(
          error instanceof ConfigError ? error.problems.join("; ") : (error as Error).message,
          "Give the certificate as PEM text or the path of a PEM file.",
        );
      }
    });
  } else if (metadata) {
    metadata.signingCerts.forEach((pem, index) =>
      entries.push({ label: `IdP signing certificate ${index + 1} in the metadata`, pem }),
    );
  }
  const stillValid = entries.filter(({ pem }) => isValidAt(pem, nowMs)).length > 0;
  for (const entry of entries) {
    checkCertificateExpiry(findings, {
      label: entry.label,
      role: "idp-signing",
      pem: entry.pem,
      nowMs,
      expiredIsWarning: stillValid,
    });
  }
}

function isValidAt(pem: string, nowMs: number): boolean {
  try {
    return Date.parse(new X509Certificate(pem).validTo) > nowMs;
  } catch {
    return false;
  }
}

/** Checks the SP certificates: signing, next signing and encryption. */
function checkSpCertificates(
  conn: ParsedSamlConnection,
  context: CheckContext,
  findings: FindingList,
): void {
  const nowMs = context.clock.now();
  const entries = [
    { key: "sp.signingCert", role: "sp-signing", value: conn.sp.signingCert },
    { key: "sp.nextSigningCert", role: "sp-signing-next", value: conn.sp.nextSigningCert },
    { key: "sp.decryptionCert", role: "sp-encryption", value: conn.sp.decryptionCert },
  ] as const;
  for (const { key, role, value } of entries) {
    if (value === undefined) continue;
    let pem: string;
    try {
      pem = readPem(value, context.config.configDir, key);
    } catch (error) {
      findings.error(
        error instanceof ConfigError ? error.problems.join("; ") : (error as Error).message,
        "Give the certificate as PEM text or the path of a PEM file.",
      );
      continue;
    }
    checkCertificateExpiry(findings, { label: key, role, pem, nowMs });
  }
}

/**
 * Checks one SAML connection: its metadata (reachable, SAML IdP metadata, signed when
 * idp.metadataSigningCert is set, not expired, the configured entity ID), the clock against
 * the metadata server's Date header, and the IdP and SP certificates. When none of that failed,
 * it builds the connection's settings as the service would, which checks keys and endpoints.
 */
export async function checkSamlConnection(
  conn: ParsedSamlConnection,
  context: CheckContext,
): Promise<FindingList> {
  const findings = new FindingList(conn.id);
  const usesMetadata = conn.idp.metadataUrl !== undefined || conn.idp.metadataFile !== undefined;
  const metadata = usesMetadata ? await checkMetadata(conn, context, findings) : undefined;
  checkIdpCertificates(conn, context, metadata, findings);
  checkSpCertificates(conn, context, findings);
  if (findings.hasErrors || (usesMetadata && !metadata)) return findings;
  try {
    const settingsContext = {
      config: context.config,
      baseUrl: context.config.baseUrl,
      clock: context.clock,
    };
    loadSamlSettings(
      conn,
      settingsContext,
      conn.idp.metadataUrl !== undefined ? metadata : undefined,
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const key = connectionKey(conn, context.config);
    for (const problem of error.problems) {
      findings.error(
        problem.startsWith(`${key}.`) ? problem.slice(key.length + 1) : problem,
        "Correct the setting named above, then run check again.",
      );
    }
  }
  return findings;
}
