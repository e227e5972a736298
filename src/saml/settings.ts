import { readFileSync } from "node:fs";
import path from "node:path";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readPem } from "../config/load.js";
import type { ParsedSamlConnection } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import type { ServiceContext } from "../http/service.js";
import { MetadataError, parseIdpMetadata, type IdpMetadata } from "./idp-metadata.js";

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
  /** Certificate of the next SP signing key, published in SP metadata before a key rollover. */
  spNextSigningCert?: string;
  spDecryptionKey?: string;
  spDecryptionCert?: string;
  idpEntityId: string;
  /** Issuers accepted on logout messages: the entity ID and, for Entra, its login host form. */
  idpLogoutIssuers: string[];
  idpSsoUrl: string;
  idpSloUrl?: string;
  /**
   * Trusted IdP signing certificates (PEM); any of them may sign. A metadata refresh replaces
   * the whole settings object, so read it per request from the connection.
   */
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

/** Parts of the service context that building settings reads. */
export type SettingsContext = Pick<ServiceContext, "config" | "baseUrl" | "clock">;

/** Returns the config key of a connection, such as `connections[2]`, for messages. */
export function connectionKey(
  conn: ParsedSamlConnection,
  config: SettingsContext["config"],
): string {
  const index = config.connections.findIndex((candidate) => candidate.id === conn.id);
  return `connections[${index}]`;
}

/** Reads idp.metadataSigningCert, or returns undefined when it is not set. */
export function readMetadataSigningCert(
  conn: ParsedSamlConnection,
  svc: SettingsContext,
): string | undefined {
  const value = conn.idp.metadataSigningCert;
  if (value === undefined) return undefined;
  const keyPath = `${connectionKey(conn, svc.config)}.idp.metadataSigningCert`;
  const pem = readPem(value, svc.config.configDir, keyPath);
  checkCertificate(pem, keyPath);
  return pem;
}

/** Turns a metadata failure at start into a ConfigError that names the key, value and fix. */
export function metadataConfigError(
  conn: ParsedSamlConnection,
  svc: SettingsContext,
  error: MetadataError,
): ConfigError {
  const key = connectionKey(conn, svc.config);
  const sourceKey = conn.idp.metadataUrl !== undefined ? "metadataUrl" : "metadataFile";
  const source = conn.idp.metadataUrl ?? conn.idp.metadataFile ?? "";
  const fix =
    error.reason === "unreadable"
      ? ""
      : "; use the IdP's SAML metadata (Entra: the App Federation Metadata Url of the enterprise app)";
  return new ConfigError([
    `${key}.idp.${sourceKey}: ${error.message} (got ${JSON.stringify(source)})${fix}`,
  ]);
}

/** Reads and checks idp.metadataFile; a document past its validUntil is rejected. */
function loadMetadataFile(
  conn: ParsedSamlConnection,
  svc: SettingsContext,
  file: string,
): IdpMetadata {
  const resolved = path.resolve(svc.config.configDir, file);
  try {
    let xml: string;
    try {
      xml = readFileSync(resolved, "utf8");
    } catch (error) {
      throw new MetadataError(
        `cannot read ${resolved} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give the path of the IdP metadata file, relative to the config file`,
        "unreadable",
      );
    }
    const metadata = parseIdpMetadata(xml, readMetadataSigningCert(conn, svc));
    if (metadata.validUntilMs !== undefined && metadata.validUntilMs <= svc.clock.now()) {
      throw new MetadataError(
        `the metadata expired at ${new Date(metadata.validUntilMs).toISOString()} (validUntil)`,
        "expired",
      );
    }
    return metadata;
  } catch (error) {
    if (!(error instanceof MetadataError)) throw error;
    throw metadataConfigError(conn, svc, error);
  }
}

/**
 * Returns the settings with the IdP entity ID, endpoints and signing certificates of a newer
 * metadata document; configured idp.ssoUrl, idp.sloUrl and idp.certificates still win. Throws
 * MetadataError when the document leaves the connection without an SSO URL.
 */
export function withIdpMetadata(
  settings: SamlSettings,
  conn: ParsedSamlConnection,
  metadata: IdpMetadata,
): SamlSettings {
  const idpSsoUrl = conn.idp.ssoUrl ?? metadata.ssoRedirectUrl;
  if (!idpSsoUrl) {
    throw new MetadataError(
      "the metadata has no SingleSignOnService with the HTTP-Redirect binding",
    );
  }
  const idpEntityId = conn.idp.entityId ?? metadata.entityId;
  const updated: SamlSettings = {
    ...settings,
    idpEntityId,
    idpLogoutIssuers: logoutIssuersFor(idpEntityId),
    idpSsoUrl,
    idpCerts: conn.idp.certificates !== undefined ? settings.idpCerts : [...metadata.signingCerts],
  };
  delete updated.idpSloUrl;
  const idpSloUrl = conn.idp.sloUrl ?? metadata.sloRedirectUrl;
  if (idpSloUrl) updated.idpSloUrl = idpSloUrl;
  return updated;
}

/**
 * Builds the settings of a `type: saml` connection; throws ConfigError naming key and fix.
 * With idp.metadataUrl the caller loads the document and passes it as `urlMetadata`
 * (see IdpMetadataSource); idp.metadataFile is read here.
 */
export function loadSamlSettings(
  conn: ParsedSamlConnection,
  svc: SettingsContext,
  urlMetadata?: IdpMetadata,
): SamlSettings {
  const key = connectionKey(conn, svc.config);
  const configDir = svc.config.configDir;
  const base = `${svc.baseUrl}/saml/${conn.id}`;
  const basePath = new URL(svc.baseUrl).pathname.replace(/\/+$/, "");
  if (conn.idp.metadataUrl !== undefined && urlMetadata === undefined) {
    throw new Error(`connection ${conn.id}: the metadata of idp.metadataUrl was not loaded`);
  }
  const metadata =
    urlMetadata ??
    (conn.idp.metadataFile !== undefined
      ? loadMetadataFile(conn, svc, conn.idp.metadataFile)
      : undefined);

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
  if (sp.nextSigningCert) {
    settings.spNextSigningCert = readPem(
      sp.nextSigningCert,
      configDir,
      `${key}.sp.nextSigningCert`,
    );
    checkCertificate(settings.spNextSigningCert, `${key}.sp.nextSigningCert`);
  }
  if (sp.decryptionKey && sp.decryptionCert) {
    settings.spDecryptionKey = readPem(sp.decryptionKey, configDir, `${key}.sp.decryptionKey`);
    checkPrivateKey(settings.spDecryptionKey, `${key}.sp.decryptionKey`);
    settings.spDecryptionCert = readPem(sp.decryptionCert, configDir, `${key}.sp.decryptionCert`);
    checkCertificate(settings.spDecryptionCert, `${key}.sp.decryptionCert`);
  }
  return settings;
}
