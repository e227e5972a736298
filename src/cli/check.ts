import { X509Certificate } from "node:crypto";
import { isLoopbackUrl, readPem, type ServiceConfig } from "../config/load.js";
import type { ParsedConnection } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { createSignIn } from "../http/create-sign-in.js";
import { createLogger } from "../logger.js";
import { MemoryStore } from "../session/memory-store.js";

/** One finding of `federated-signin check`. */
export interface CheckFinding {
  connection?: string;
  severity: "error" | "warning";
  problem: string;
  fix: string;
}

/** What to register at the IdP for one connection. */
export interface RegistrationValues {
  connection: string;
  type: ParsedConnection["type"];
  values: Record<string, string>;
}

const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

function registrationValues(config: ServiceConfig, connection: ParsedConnection): RegistrationValues {
  const base = config.baseUrl;
  if (connection.type === "saml") {
    return {
      connection: connection.id,
      type: connection.type,
      values: {
        "Identifier (Entity ID)": connection.sp.entityId ?? `${base}/saml/${connection.id}/metadata`,
        "Reply URL (Assertion Consumer Service URL)": `${base}/saml/${connection.id}/acs`,
        "Logout URL": `${base}/saml/${connection.id}/slo`,
        "SP metadata URL": `${base}/saml/${connection.id}/metadata`,
      },
    };
  }
  if (connection.type === "oidc") {
    return {
      connection: connection.id,
      type: connection.type,
      values: {
        "Redirect URI": `${base}/oidc/${connection.id}/callback`,
        "Front-channel logout / post-logout redirect URI": `${base}/`,
      },
    };
  }
  return {
    connection: connection.id,
    type: connection.type,
    values: {
      "Launch URL": `${base}/smart/${connection.id}/launch`,
      "Redirect URI": `${base}/smart/${connection.id}/callback`,
    },
  };
}

function checkCertificates(
  config: ServiceConfig,
  connection: ParsedConnection,
  now: number,
  findings: CheckFinding[],
): void {
  if (connection.type !== "saml") return;
  const pems: Array<[string, string]> = [];
  connection.idp.certificates?.forEach((value, index) =>
    pems.push([`idp.certificates[${index}]`, value]),
  );
  if (connection.sp.signingCert) pems.push(["sp.signingCert", connection.sp.signingCert]);
  if (connection.sp.decryptionCert) pems.push(["sp.decryptionCert", connection.sp.decryptionCert]);
  for (const [key, value] of pems) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(readPem(value, config.configDir, key));
    } catch (error) {
      findings.push({
        connection: connection.id,
        severity: "error",
        problem: `${key} is not a readable X.509 certificate (${(error as Error).message})`,
        fix: "Give the certificate as PEM text or the path of a PEM file.",
      });
      continue;
    }
    const daysLeft = Math.floor((Date.parse(certificate.validTo) - now) / DAY_MS);
    if (daysLeft < 0) {
      findings.push({
        connection: connection.id,
        severity: "error",
        problem: `${key} expired on ${certificate.validTo}`,
        fix: key.startsWith("idp")
          ? "Download the IdP's current signing certificate (Entra: SAML Certificates) and replace it."
          : "Create a new key and certificate (certs/create-sp-keys.sh) and register the certificate at the IdP.",
      });
    } else if (daysLeft < EXPIRY_WARNING_DAYS) {
      findings.push({
        connection: connection.id,
        severity: "warning",
        problem: `${key} expires in ${daysLeft} days (${certificate.validTo})`,
        fix: "Prepare the next certificate now and add it before the old one expires.",
      });
    }
  }
}

/**
 * Checks the federation setup of every connection: loads each connection as the service would
 * (metadata, discovery), checks certificates and URLs, and prints the problems with their fixes.
 * Returns the process exit code: 0 when no errors were found, 1 otherwise.
 */
export async function runCheck(config: ServiceConfig, options: { json: boolean }): Promise<number> {
  const findings: CheckFinding[] = [];
  const now = Date.now();
  if (!config.baseUrl.startsWith("https:") && !isLoopbackUrl(config.baseUrl)) {
    findings.push({
      severity: "error",
      problem: `baseUrl ${config.baseUrl} uses http on a host that is not loopback`,
      fix: "Serve the service over https and set baseUrl to its https URL; Entra accepts http reply URLs only for localhost.",
    });
  }
  for (const connection of config.connections) {
    checkCertificates(config, connection, now, findings);
    try {
      const signIn = await createSignIn(
        { ...config, connections: [connection] },
        { logger: createLogger("silent"), store: new MemoryStore() },
      );
      try {
        await signIn.registry.get(connection.id)?.checkReady();
      } finally {
        await signIn.close();
      }
    } catch (error) {
      findings.push({
        connection: connection.id,
        severity: "error",
        problem: error instanceof ConfigError ? error.problems.join("; ") : (error as Error).message,
        fix: "Correct the connection settings named above, then run check again.",
      });
    }
  }
  const registrations = config.connections.map((connection) =>
    registrationValues(config, connection),
  );
  const errors = findings.filter((finding) => finding.severity === "error").length;

  if (options.json) {
    process.stdout.write(`${JSON.stringify({ ok: errors === 0, findings, registrations }, null, 2)}\n`);
    return errors === 0 ? 0 : 1;
  }
  const lines: string[] = [];
  for (const registration of registrations) {
    lines.push(`Connection ${registration.connection} (${registration.type}): register at the IdP`);
    for (const [label, value] of Object.entries(registration.values)) {
      lines.push(`  ${label}: ${value}`);
    }
  }
  lines.push("");
  if (findings.length === 0) {
    lines.push("No problems found.");
  }
  for (const finding of findings) {
    const where = finding.connection ? `[${finding.connection}] ` : "";
    lines.push(`${finding.severity.toUpperCase()} ${where}${finding.problem}`);
    lines.push(`  fix: ${finding.fix}`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return errors === 0 ? 0 : 1;
}
