import type { Clock } from "../clock.js";
import type { ServiceConfig } from "../config/load.js";
import { formatDurationMs } from "../config/duration.js";
import {
  daysUntil,
  describeCertificate,
  EXPIRY_WARNING_DAYS,
  type CertificateRole,
} from "../saml/certificate-expiry.js";

/** One finding of `federated-signin check`. */
export interface CheckFinding {
  connection?: string;
  severity: "error" | "warning";
  problem: string;
  fix: string;
}

/** Inputs of the checks of one connection. */
export interface CheckContext {
  config: ServiceConfig;
  clock: Clock;
  /** Time limit of each HTTP request, in milliseconds. */
  timeoutMs: number;
}

/** Clock differences above this are reported as a warning even within clockSkew. */
export const CLOCK_WARNING_MS = 60_000;

/** Largest document the check downloads, in bytes. */
const MAX_DOCUMENT_BYTES = 2 * 1024 * 1024;

/** Collects the findings of one connection (or of the whole service when `connection` is unset). */
export class FindingList {
  readonly items: CheckFinding[] = [];

  constructor(private readonly connection?: string) {}

  error(problem: string, fix: string): void {
    this.add("error", problem, fix);
  }

  warning(problem: string, fix: string): void {
    this.add("warning", problem, fix);
  }

  get hasErrors(): boolean {
    return this.items.some((finding) => finding.severity === "error");
  }

  private add(severity: CheckFinding["severity"], problem: string, fix: string): void {
    this.items.push({
      ...(this.connection !== undefined ? { connection: this.connection } : {}),
      severity,
      problem,
      fix,
    });
  }
}

/** A downloaded document with the timing the clock check needs. */
export interface FetchedDocument {
  status: number;
  text: string;
  /** The `Date` response header in ms since the epoch, when present and valid. */
  serverDateMs?: number;
  /** Injected-clock time when the request started and when the headers arrived. */
  sentAtMs: number;
  receivedAtMs: number;
}

/**
 * Downloads a document with a time limit and a size limit. Throws an Error whose message states
 * why the download failed (timed out, refused, too large).
 */
export async function fetchDocument(
  url: string,
  context: CheckContext,
  accept: string,
): Promise<FetchedDocument> {
  const sentAtMs = context.clock.now();
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { accept },
      redirect: "follow",
      signal: AbortSignal.timeout(context.timeoutMs),
    });
  } catch (error) {
    const name = (error as Error).name;
    if (name === "TimeoutError") {
      throw new Error(`timed out after ${formatDurationMs(context.timeoutMs)}`);
    }
    const cause = (error as { cause?: Error }).cause;
    throw new Error(cause?.message ?? (error as Error).message);
  }
  const receivedAtMs = context.clock.now();
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > MAX_DOCUMENT_BYTES) throw new Error(`larger than ${MAX_DOCUMENT_BYTES} bytes`);
  const text = await response.text();
  if (text.length > MAX_DOCUMENT_BYTES) throw new Error(`larger than ${MAX_DOCUMENT_BYTES} bytes`);
  const fetched: FetchedDocument = { status: response.status, text, sentAtMs, receivedAtMs };
  const serverDateMs = Date.parse(response.headers.get("date") ?? "");
  if (Number.isFinite(serverDateMs)) fetched.serverDateMs = serverDateMs;
  return fetched;
}

/**
 * Compares this host's clock with the server's `Date` header. The header has one-second
 * resolution and the request takes time, so that much difference is ignored. A difference
 * beyond `clockSkewMs` is an error because signed messages would be rejected; one beyond
 * {@link CLOCK_WARNING_MS} is a warning.
 */
export function checkClockOffset(
  findings: FindingList,
  url: string,
  fetched: FetchedDocument,
  clockSkewMs: number,
): void {
  if (fetched.serverDateMs === undefined) return;
  const localMs = (fetched.sentAtMs + fetched.receivedAtMs) / 2;
  const offsetMs = fetched.serverDateMs - localMs;
  const uncertaintyMs = 1000 + (fetched.receivedAtMs - fetched.sentAtMs) / 2;
  const differenceMs = Math.max(0, Math.abs(offsetMs) - uncertaintyMs);
  if (differenceMs <= CLOCK_WARNING_MS) return;
  const direction = offsetMs > 0 ? "behind" : "ahead of";
  const host = new URL(url).host;
  const problem = `this host's clock is about ${formatSeconds(Math.abs(offsetMs))} ${direction} ${host} (its Date header: ${new Date(fetched.serverDateMs).toUTCString()})`;
  if (differenceMs > clockSkewMs) {
    findings.error(
      problem,
      `Synchronize this host's clock with NTP (for example chrony or systemd-timesyncd). Messages are accepted only within clockSkew (${formatDurationMs(clockSkewMs)}) of their validity times.`,
    );
  } else {
    findings.warning(
      problem,
      `Synchronize this host's clock with NTP; the difference already uses up part of clockSkew (${formatDurationMs(clockSkewMs)}).`,
    );
  }
}

function formatSeconds(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes}m ${seconds % 60}s` : `${seconds}s`;
}

/** Fix text for an expired or expiring certificate, by role. */
const CERTIFICATE_FIXES: Record<CertificateRole, string> = {
  "idp-signing":
    "Create a new SAML signing certificate in the IdP (Entra: enterprise app > Single sign-on > SAML Certificates), make it active, and keep idp.metadataUrl pointing at the app's metadata (or replace idp.certificates).",
  "sp-signing":
    "Create a new SP signing key and certificate (certs/create-sp-keys.sh), publish it first as sp.nextSigningCert, upload it to the IdP, then make it sp.signingKey/sp.signingCert.",
  "sp-signing-next":
    "Replace sp.nextSigningCert with a certificate that is valid for longer (certs/create-sp-keys.sh).",
  "sp-encryption":
    "Create a new SP encryption key and certificate (certs/create-sp-keys.sh), set sp.decryptionKey/sp.decryptionCert, and upload the certificate to the IdP (Entra: Token encryption).",
};

/**
 * Reports a certificate that has expired (an error, unless `expiredIsWarning`) or expires within
 * the warning period. Returns false when the PEM is not a readable certificate.
 */
export function checkCertificateExpiry(
  findings: FindingList,
  input: {
    label: string;
    role: CertificateRole;
    pem: string;
    nowMs: number;
    expiredIsWarning?: boolean;
  },
): boolean {
  let notAfterMs: number;
  try {
    notAfterMs = describeCertificate(input.role, input.pem).notAfterMs;
  } catch (error) {
    findings.error(
      `${input.label} is not a readable X.509 certificate (${(error as Error).message})`,
      "Give the certificate as PEM text or the path of a PEM file.",
    );
    return false;
  }
  const notAfter = new Date(notAfterMs).toISOString();
  const daysLeft = daysUntil(notAfterMs, input.nowMs);
  const fix = CERTIFICATE_FIXES[input.role];
  if (daysLeft < 0) {
    const problem = `${input.label} expired on ${notAfter}`;
    if (input.expiredIsWarning) {
      findings.warning(
        problem,
        "Remove the expired certificate once no message is signed with it.",
      );
    } else {
      findings.error(problem, fix);
    }
  } else if (daysLeft < EXPIRY_WARNING_DAYS) {
    findings.warning(`${input.label} expires in ${daysLeft} days (${notAfter})`, fix);
  }
  return true;
}
