import { readFileSync } from "node:fs";
import path from "node:path";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readPem } from "../config/load.js";
import type { ParsedSamlConnection } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import type { ServiceContext } from "../http/service.js";
import {
  fetchMetadata,
  MetadataError,
  parseIdpMetadata,
  type IdpMetadata,
} from "./idp-metadata.js";

/** NameID format sent in the AuthnRequest unless sp.nameIdFormat is set. */
export const DEFAULT_NAME_ID_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/** A connection's SAML settings with URLs built and keys, certificates and metadata loaded. */
export interface SamlSettings {
  connectionId: string;
  /** Path of baseUrl plus `/saml/<id>/`, the scope of the request binding cookie. */
  cookiePath: string;
  spEntityId: string;
  metadataUrl: string;
  acsUrl: string;
  sloUrl: string;
  nameIdFormat: string;
  spSigningKey?: string;
  spSigningCert?: string;
  spDecryptionKey?: string;
  spDecryptionCert?: string;
  idpEntityId: string;
  /** Issuers accepted on logout messages: the entity ID and, for Entra, its login host form. */
  idpLogoutIssuers: string[];
  idpSsoUrl: string;
  idpSloUrl?: string;
  idpCerts: string[];
  clockSkewMs: number;
  allowSha1: boolean;
  allowIdpInitiated: boolean;
  idpInitiatedReturnTo: string;
  forceAuthn: boolean;
  maxResponseSize: number;
}

const ENTRA_ISSUER = /^https:\/\/sts\.windows\.net\/([0-9a-f-]{36})\/$/i;

/**
 * Returns the issuers Entra uses for logout messages besides the assertion issuer: Entra signs
 * assertions as `https://sts.windows.net/<tid>/` but LogoutResponses as
 * `https://login.microsoftonline.com/<tid>/`.
 */
export function logoutIssuersFor(idpEntityId: string): string[] {
  const match = ENTRA_ISSUER.exec(idpEntityId);
  if (!match) return [idpEntityId];
  return [idpEntityId, `https://login.microsoftonline.com/${match[1]}/`];
}

function checkPrivateKey(pem: string, keyPath: string): void {
  try {
    createPrivateKey(pem);
  } catch (error) {
    throw new ConfigError([
      `${keyPath}: not a readable PEM private key (${(error as Error).message}); give an unencrypted PEM key or its file path`,
    ]);
  }
}

function checkCertificate(pem: string, keyPath: string): void {
  try {
    new X509Certificate(pem);
  } catch (error) {
    throw new ConfigError([
      `${keyPath}: not a readable PEM certificate (${(error as Error).message}); give a PEM certificate or its file path`,
    ]);
  }
}

async function loadMetadata(
  conn: ParsedSamlConnection,
  key: string,
  configDir: string,
): Promise<IdpMetadata | undefined> {
  const { metadataUrl, metadataFile, metadataSigningCert } = conn.idp;
  if (metadataUrl === undefined && metadataFile === undefined) return undefined;
  const signingCert =
    metadataSigningCert === undefined
      ? undefined
      : readPem(metadataSigningCert, configDir, `${key}.idp.metadataSigningCert`);
  const source = metadataUrl ?? metadataFile ?? "";
  const sourceKey = metadataUrl !== undefined ? "metadataUrl" : "metadataFile";
  try {
    let xml: string;
    if (metadataUrl !== undefined) {
      // NOTE: the metadata is fetched once at start; a changed IdP certificate needs a restart.
      xml = await fetchMetadata(metadataUrl);
    } else {
      const file = path.resolve(configDir, source);
      try {
        xml = readFileSync(file, "utf8");
      } catch (error) {
        throw new MetadataError(
          `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        );
      }
    }
    return parseIdpMetadata(xml, signingCert);
  } catch (error) {
    if (!(error instanceof MetadataError)) throw error;
    throw new ConfigError([
      `${key}.idp.${sourceKey}: ${error.message} (got ${JSON.stringify(source)}); use the IdP's SAML metadata (Entra: the App Federation Metadata Url of the enterprise app)`,
    ]);
  }
}

/** Builds the settings of a `type: saml` connection; throws ConfigError naming key and fix. */
export async function loadSamlSettings(
  conn: ParsedSamlConnection,
  svc: ServiceContext,
): Promise<SamlSettings> {
  const index = svc.config.connections.findIndex((candidate) => candidate.id === conn.id);
  const key = `connections[${index}]`;
  const configDir = svc.config.configDir;
  const base = `${svc.baseUrl}/saml/${conn.id}`;
  const basePath = new URL(svc.baseUrl).pathname.replace(/\/+$/, "");
  const metadata = await loadMetadata(conn, key, configDir);

  const idpEntityId = conn.idp.entityId ?? metadata?.entityId ?? "";
  if (idpEntityId.includes("{tenantid}")) {
    throw new ConfigError([
      `${key}.idp.entityId: ${JSON.stringify(idpEntityId)} is Entra's multi-tenant template; set idp.entityId to https://sts.windows.net/<your tenant id>/ or use the App Federation Metadata Url of the enterprise app`,
    ]);
  }
  const idpSsoUrl = conn.idp.ssoUrl ?? metadata?.ssoRedirectUrl;
  if (!idpSsoUrl) {
    throw new ConfigError([
      `${key}.idp: the metadata has no SingleSignOnService with the HTTP-Redirect binding; set idp.ssoUrl`,
    ]);
  }
  const idpCerts = (conn.idp.certificates ?? []).map((value, certIndex) => {
    const keyPath = `${key}.idp.certificates[${certIndex}]`;
    const pem = readPem(value, configDir, keyPath);
    checkCertificate(pem, keyPath);
    return pem;
  });
  if (idpCerts.length === 0) idpCerts.push(...(metadata?.signingCerts ?? []));
  if (idpCerts.length === 0) {
    throw new ConfigError([`${key}.idp.certificates: no IdP signing certificate is configured`]);
  }

  const settings: SamlSettings = {
    connectionId: conn.id,
    cookiePath: `${basePath}/saml/${conn.id}/`,
    spEntityId: conn.sp.entityId ?? `${base}/metadata`,
    metadataUrl: `${base}/metadata`,
    acsUrl: `${base}/acs`,
    sloUrl: `${base}/slo`,
    nameIdFormat: conn.sp.nameIdFormat ?? DEFAULT_NAME_ID_FORMAT,
    idpEntityId,
    idpLogoutIssuers: logoutIssuersFor(idpEntityId),
    idpSsoUrl,
    idpCerts,
    clockSkewMs: conn.clockSkew,
    allowSha1: conn.allowSha1,
    allowIdpInitiated: conn.allowIdpInitiated,
    idpInitiatedReturnTo: conn.idpInitiatedReturnTo,
    forceAuthn: conn.forceAuthn,
    maxResponseSize: conn.maxResponseSize,
  };
  const idpSloUrl = conn.idp.sloUrl ?? metadata?.sloRedirectUrl;
  if (idpSloUrl) settings.idpSloUrl = idpSloUrl;
  const sp = conn.sp;
  if (sp.signingKey && sp.signingCert) {
    settings.spSigningKey = readPem(sp.signingKey, configDir, `${key}.sp.signingKey`);
    checkPrivateKey(settings.spSigningKey, `${key}.sp.signingKey`);
    settings.spSigningCert = readPem(sp.signingCert, configDir, `${key}.sp.signingCert`);
    checkCertificate(settings.spSigningCert, `${key}.sp.signingCert`);
  }
  if (sp.decryptionKey && sp.decryptionCert) {
    settings.spDecryptionKey = readPem(sp.decryptionKey, configDir, `${key}.sp.decryptionKey`);
    checkPrivateKey(settings.spDecryptionKey, `${key}.sp.decryptionKey`);
    settings.spDecryptionCert = readPem(sp.decryptionCert, configDir, `${key}.sp.decryptionCert`);
    checkCertificate(settings.spDecryptionCert, `${key}.sp.decryptionCert`);
  }
  return settings;
}
