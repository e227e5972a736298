import { X509Certificate } from "node:crypto";
import type { ServiceContext } from "../http/service.js";
import type { SamlSettings } from "./settings.js";

/** Use of a certificate, the `role` label of the expiry gauge. */
export type CertificateRole = "idp-signing" | "sp-signing" | "sp-encryption" | "sp-signing-next";

/** Certificates that expire within this many days get a warning. */
export const EXPIRY_WARNING_DAYS = 30;

const DAY_MS = 86_400_000;

/** The facts about one certificate that expiry checks and their messages use. */
export interface CertificateExpiry {
  role: CertificateRole;
  /** notAfter, in milliseconds since the epoch. */
  notAfterMs: number;
  subject: string;
  /** SHA-256 fingerprint, colon-separated hex, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint256: string;
}

/** Reads the expiry facts of a PEM certificate; throws when it is not a certificate. */
export function describeCertificate(role: CertificateRole, pem: string): CertificateExpiry {
  const certificate = new X509Certificate(pem);
  return {
    role,
    notAfterMs: Date.parse(certificate.validTo),
    subject: certificate.subject.replace(/\n/g, ", "),
    fingerprint256: certificate.fingerprint256,
  };
}

/** Returns whole days from `nowMs` until `notAfterMs`, rounded down; negative once expired. */
export function daysUntil(notAfterMs: number, nowMs: number): number {
  return Math.floor((notAfterMs - nowMs) / DAY_MS);
}

/** Lists the IdP signing certificates and the SP certificates of a connection, with roles. */
export function certificatesOf(settings: SamlSettings): CertificateExpiry[] {
  const entries: Array<[CertificateRole, string | undefined]> = [
    ...settings.idpCerts.map((pem): [CertificateRole, string] => ["idp-signing", pem]),
    ["sp-signing", settings.spSigningCert],
    ["sp-signing-next", settings.spNextSigningCert],
    ["sp-encryption", settings.spDecryptionCert],
  ];
  return entries
    .filter((entry): entry is [CertificateRole, string] => entry[1] !== undefined)
    .map(([role, pem]) => describeCertificate(role, pem));
}

/**
 * Logs a warning for every certificate of the connection that expires within
 * {@link EXPIRY_WARNING_DAYS} days (an error once expired), and registers the connection's
 * certificates with the `federated_signin_certificate_expiry_days` gauge. The gauge is
 * computed from the injected clock at each scrape. For `idp-signing` it shows the soonest
 * expiry among the trusted IdP certificates, because the IdP may still sign with that one.
 * Call it at start and after each metadata refresh; it replaces the earlier registration.
 */
export function trackCertificateExpiry(svc: ServiceContext, settings: SamlSettings): void {
  const connection = settings.connectionId;
  const certificates = certificatesOf(settings);
  const nowMs = svc.clock.now();
  for (const certificate of certificates) {
    const daysLeft = daysUntil(certificate.notAfterMs, nowMs);
    if (daysLeft >= EXPIRY_WARNING_DAYS) continue;
    const fields = {
      connection,
      role: certificate.role,
      notAfter: new Date(certificate.notAfterMs).toISOString(),
      daysLeft,
      subject: certificate.subject,
      fingerprint256: certificate.fingerprint256,
    };
    if (daysLeft < 0) svc.logger.error(fields, "certificate has expired");
    else svc.logger.warn(fields, `certificate expires in ${daysLeft} days`);
  }

  const gauge = svc.metrics.certificateExpiryDays;
  const soonest = new Map<CertificateRole, number>();
  for (const certificate of certificates) {
    const current = soonest.get(certificate.role);
    if (current === undefined || certificate.notAfterMs < current) {
      soonest.set(certificate.role, certificate.notAfterMs);
    }
  }
  const update = () => {
    const now = svc.clock.now();
    for (const [role, notAfterMs] of soonest) {
      gauge.set({ connection, role }, daysUntil(notAfterMs, now));
    }
  };
  update();
  svc.metrics.certificateExpiryUpdaters.set(connection, update);
}

/** Removes a connection's certificates from the expiry gauge (when the connection closes). */
export function untrackCertificateExpiry(svc: ServiceContext, connection: string): void {
  svc.metrics.certificateExpiryUpdaters.delete(connection);
  for (const role of ["idp-signing", "sp-signing", "sp-signing-next", "sp-encryption"] as const) {
    svc.metrics.certificateExpiryDays.remove({ connection, role });
  }
}
