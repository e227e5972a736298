import { systemClock, type Clock } from "../clock.js";
import { isLoopbackUrl, type ServiceConfig } from "../config/load.js";
import type { ParsedConnection } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { createSignIn } from "../http/create-sign-in.js";
import { createLogger } from "../logger.js";
import { MemoryStore } from "../session/memory-store.js";
import { checkOidcConnection, checkSmartConnection } from "./check-discovery.js";
import { checkSamlConnection } from "./check-saml.js";
import { FindingList, type CheckContext, type CheckFinding } from "./check-support.js";

export type { CheckFinding };

/** Values to register at the IdP for one connection. */
export interface RegistrationValues {
  connection: string;
  type: ParsedConnection["type"];
  values: Record<string, string>;
}

/** Options of {@link runCheck}. */
export interface CheckOptions {
  /** Print one JSON document instead of text. */
  json: boolean;
  /** Replaces the clock (tests); certificate expiry and clock offsets are measured with it. */
  clock?: Clock;
  /** Time limit of each HTTP request, in milliseconds; default 10 s. */
  timeoutMs?: number;
  /** Receives the output; defaults to standard output. */
  write?: (text: string) => void;
}

const DEFAULT_TIMEOUT_MS = 10_000;

function registrationValues(
  config: ServiceConfig,
  connection: ParsedConnection,
): RegistrationValues {
  const base = config.baseUrl;
  if (connection.type === "saml") {
    return {
      connection: connection.id,
      type: connection.type,
      values: {
        "Identifier (Entity ID)":
          connection.sp.entityId ?? `${base}/saml/${connection.id}/metadata`,
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

/**
 * Builds an OIDC or SMART connection as the service would (client keys, discovery) and reports
 * what fails. SAML connections are built by checkSamlConnection without network or disk.
 */
async function loadConnection(
  config: ServiceConfig,
  connection: ParsedConnection,
  findings: FindingList,
): Promise<void> {
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
    findings.error(
      error instanceof ConfigError ? error.problems.join("; ") : (error as Error).message,
      "Correct the connection settings named above, then run check again.",
    );
  }
}

async function checkConnection(
  config: ServiceConfig,
  connection: ParsedConnection,
  context: CheckContext,
): Promise<CheckFinding[]> {
  if (connection.type === "saml") return (await checkSamlConnection(connection, context)).items;
  const findings =
    connection.type === "oidc"
      ? await checkOidcConnection(connection, context)
      : await checkSmartConnection(connection, context);
  if (!findings.hasErrors) await loadConnection(config, connection, findings);
  return findings.items;
}

/** Formats the result as text: what to register at each IdP, then each finding with its fix. */
function formatText(registrations: RegistrationValues[], findings: CheckFinding[]): string {
  const lines: string[] = [];
  for (const registration of registrations) {
    lines.push(`Connection ${registration.connection} (${registration.type}): register at the IdP`);
    for (const [label, value] of Object.entries(registration.values)) {
      lines.push(`  ${label}: ${value}`);
    }
  }
  lines.push("");
  if (findings.length === 0) lines.push("No problems found.");
  for (const finding of findings) {
    const where = finding.connection ? `[${finding.connection}] ` : "";
    lines.push(`${finding.severity.toUpperCase()} ${where}${finding.problem}`);
    lines.push(`  fix: ${finding.fix}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Checks the federation setup of every connection. It downloads each IdP's metadata or
 * discovery document with a time limit and checks the kind of document, issuer and entity ID,
 * signatures, certificate expiry, PKCE support, https reply URLs and the clock against each
 * server's Date header. It prints the values to register at each IdP and every problem with
 * its fix, and returns the process exit code: 0 without errors, 1 otherwise.
 */
export async function runCheck(config: ServiceConfig, options: CheckOptions): Promise<number> {
  const context: CheckContext = {
    config,
    clock: options.clock ?? systemClock,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  };
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const service = new FindingList();
  if (!config.baseUrl.startsWith("https:") && !isLoopbackUrl(config.baseUrl)) {
    service.error(
      `baseUrl ${config.baseUrl} uses http on a host that is not loopback`,
      "Serve the service over https and set baseUrl to its https URL; Entra accepts http reply URLs only for localhost.",
    );
  }
  const findings: CheckFinding[] = [...service.items];
  for (const connection of config.connections) {
    findings.push(...(await checkConnection(config, connection, context)));
  }
  const registrations = config.connections.map((connection) =>
    registrationValues(config, connection),
  );
  const ok = !findings.some((finding) => finding.severity === "error");
  if (options.json) {
    write(`${JSON.stringify({ ok, findings, registrations }, null, 2)}\n`);
  } else {
    write(formatText(registrations, findings));
  }
  return ok ? 0 : 1;
}
