import { readFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import type { z } from "zod";
import { ConfigError } from "../errors.js";
import { isLocalPath } from "../http/return-to.js";
import {
  serviceConfigSchema,
  type ParsedConnection,
  type ParsedServiceConfig,
  type ServiceConfigInput,
} from "./schema.js";

/** Validated configuration plus the folder that relative file paths are resolved against. */
export type ServiceConfig = ParsedServiceConfig & {
  /** Folder of the config file; relative key, certificate and metadata paths start here. */
  configDir: string;
};

const ENV_PREFIX = "env:";

/** Replaces every string value `env:NAME` with the value of that environment variable. */
function resolveEnvReferences(
  value: unknown,
  env: NodeJS.ProcessEnv,
  keyPath: string,
  problems: string[],
  fromEnv: Map<string, string>,
): unknown {
  if (typeof value === "string" && value.startsWith(ENV_PREFIX)) {
    const name = value.slice(ENV_PREFIX.length);
    const resolved = env[name];
    if (resolved === undefined || resolved === "") {
      problems.push(
        `${keyPath}: environment variable ${name} is not set; export ${name} or write the value in the file`,
      );
      return value;
    }
    fromEnv.set(keyPath, name);
    return resolved;
  }
  if (Array.isArray(value)) {
    return value.map((item, index) =>
      resolveEnvReferences(item, env, `${keyPath}[${index}]`, problems, fromEnv),
    );
  }
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        resolveEnvReferences(item, env, keyPath ? `${keyPath}.${key}` : key, problems, fromEnv),
      ]),
    );
  }
  return value;
}

/** Keys whose values are secrets: an error message names their length, never their text. */
const SECRET_KEY_PATTERN = /(?:^|\.)(?:keys\[\d+\]|token|clientSecret)$/;

function formatKeyPath(segments: ReadonlyArray<PropertyKey>): string {
  let text = "";
  for (const segment of segments) {
    if (typeof segment === "number") text += `[${segment}]`;
    else text += text ? `.${String(segment)}` : String(segment);
  }
  return text || "(top level)";
}

function valueAt(root: unknown, segments: ReadonlyArray<PropertyKey>): unknown {
  let current = root;
  for (const segment of segments) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function describeValue(value: unknown): string {
  if (value === undefined) return "missing";
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function formatIssue(issue: z.core.$ZodIssue, raw: unknown, fromEnv: Map<string, string>): string {
  const key = formatKeyPath(issue.path);
  const value = valueAt(raw, issue.path);
  const envName = fromEnv.get(key);
  if (envName !== undefined || (typeof value === "string" && SECRET_KEY_PATTERN.test(key))) {
    const length = typeof value === "string" ? `${value.length} characters` : "not a string";
    const source = envName === undefined ? "" : `value from env:${envName}, `;
    return `${key}: ${issue.message} (${source}${length}; not shown)`;
  }
  if (issue.code === "unrecognized_keys") {
    return `${key}: unknown key(s) ${issue.keys.join(", ")}; remove them or check the spelling`;
  }
  if (issue.code === "invalid_union" && value && typeof value === "object" && "type" in value) {
    return `${key}: invalid value for type ${describeValue((value as { type: unknown }).type)}`;
  }
  return `${key}: ${issue.message} (got ${describeValue(value)})`;
}

function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === "localhost" ||
    hostname === "[::1]" ||
    hostname === "::1" ||
    /^127(?:\.\d{1,3}){3}$/.test(hostname)
  );
}

/** Tells whether a URL's host is a loopback address, where plain http is acceptable. */
export function isLoopbackUrl(text: string): boolean {
  try {
    return isLoopbackHost(new URL(text).hostname);
  } catch {
    return false;
  }
}

const MULTI_TENANT_SEGMENTS = ["common", "organizations", "consumers"];

function checkConnection(connection: ParsedConnection, index: number, problems: string[]): void {
  const key = `connections[${index}]`;
  if (connection.type === "saml") {
    const idp = connection.idp;
    const hasManual = idp.entityId !== undefined || idp.ssoUrl !== undefined;
    const sources = [idp.metadataUrl, idp.metadataFile].filter((v) => v !== undefined).length;
    if (sources > 1) {
      problems.push(`${key}.idp: set only one of metadataUrl and metadataFile`);
    }
    if (sources === 0) {
      if (!idp.entityId || !idp.ssoUrl || !idp.certificates) {
        problems.push(
          `${key}.idp: set metadataUrl, or metadataFile, or all of entityId, ssoUrl and certificates`,
        );
      }
    } else if (hasManual && !idp.entityId) {
      problems.push(`${key}.idp: ssoUrl without entityId; set entityId too or remove ssoUrl`);
    }
    const sp = connection.sp;
    if ((sp.signingKey === undefined) !== (sp.signingCert === undefined)) {
      problems.push(
        `${key}.sp: set signingKey and signingCert together (a key and its certificate)`,
      );
    }
    if ((sp.decryptionKey === undefined) !== (sp.decryptionCert === undefined)) {
      problems.push(
        `${key}.sp: set decryptionKey and decryptionCert together (a key and its certificate)`,
      );
    }
    if (!isLocalPath(connection.idpInitiatedReturnTo)) {
      problems.push(
        `${key}.idpInitiatedReturnTo: must be a local path such as "/" (got ${describeValue(connection.idpInitiatedReturnTo)})`,
      );
    }
  }
  if (connection.type === "oidc") {
    const issuerUrl = new URL(connection.issuer);
    if (issuerUrl.protocol !== "https:" && !isLoopbackHost(issuerUrl.hostname)) {
      problems.push(
        `${key}.issuer: must use https (got ${describeValue(connection.issuer)}); plain http is accepted only on loopback hosts`,
      );
    }
    const tenantSegment = issuerUrl.pathname.split("/")[1] ?? "";
    const multiTenant =
      issuerUrl.hostname === "login.microsoftonline.com" &&
      MULTI_TENANT_SEGMENTS.includes(tenantSegment);
    if (multiTenant && (connection.allowedTenants ?? []).length === 0) {
      problems.push(
        `${key}.allowedTenants: required because issuer ${connection.issuer} accepts any tenant; list the tenant IDs (GUIDs) that may sign in`,
      );
    }
    if (connection.clientSecret && connection.privateKeyFile) {
      problems.push(`${key}: set clientSecret or privateKeyFile, not both`);
    }
  }
  if (connection.type === "smart") {
    connection.fhirServers.forEach((server, serverIndex) => {
      const url = new URL(server);
      if (url.protocol !== "https:" && !isLoopbackHost(url.hostname)) {
        problems.push(
          `${key}.fhirServers[${serverIndex}]: must use https (got ${describeValue(server)}); plain http is accepted only on loopback hosts`,
        );
      }
    });
    if (connection.clientSecret && connection.privateKeyFile) {
      problems.push(`${key}: set clientSecret or privateKeyFile, not both`);
    }
    if (!connection.scopes.includes("openid")) {
      problems.push(
        `${key}.scopes: must include openid (got ${describeValue(connection.scopes)}); without an ID token the sign-in has no verified user, only the patient that was opened`,
      );
    }
  }
}

/**
 * Validates a configuration object. Throws {@link ConfigError} listing every problem, each with
 * the key, the bad value and the fix.
 */
export function parseConfig(
  input: unknown,
  options: { configDir?: string; env?: NodeJS.ProcessEnv } = {},
): ServiceConfig {
  const problems: string[] = [];
  const fromEnv = new Map<string, string>();
  const resolved = resolveEnvReferences(input, options.env ?? process.env, "", problems, fromEnv);
  const result = serviceConfigSchema.safeParse(resolved);
  if (!result.success) {
    problems.push(...result.error.issues.map((issue) => formatIssue(issue, resolved, fromEnv)));
    throw new ConfigError(problems);
  }
  const config = result.data;
  const seen = new Set<string>();
  config.connections.forEach((connection, index) => {
    if (seen.has(connection.id)) {
      problems.push(
        `connections[${index}].id: "${connection.id}" is used twice; ids must be unique`,
      );
    }
    seen.add(connection.id);
    checkConnection(connection, index, problems);
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...config, configDir: options.configDir ?? process.cwd() };
}

/** Reads and validates a YAML or JSON config file. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError([`config file ${file} cannot be read: ${(error as Error).message}`]);
  }
  let input: unknown;
  try {
    input = file.endsWith(".json") ? JSON.parse(text) : YAML.parse(text);
  } catch (error) {
    throw new ConfigError([
      `config file ${file} is not valid YAML/JSON: ${(error as Error).message}`,
    ]);
  }
  return parseConfig(input, { configDir: path.dirname(path.resolve(file)), env });
}

/**
 * Reads a PEM value: either the PEM text itself or a path (relative to the config folder) of a
 * file that contains it.
 */
export function readPem(value: string, configDir: string, keyPath: string): string {
  if (value.includes("-----BEGIN")) return value;
  const file = path.resolve(configDir, value);
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError([
      `${keyPath}: cannot read PEM file ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give the PEM text or a readable file path`,
    ]);
  }
}

export type { ServiceConfigInput };
