/**
 * Test harness that runs SimpleSAMLphp (Debian package `simplesamlphp`, 1.19.x) as an independent
 * SAML 2.0 IdP on 127.0.0.1, served by PHP's built-in web server. Every setting, key and metadata
 * file lives in a temporary folder that SIMPLESAMLPHP_CONFIG_DIR points at, so the system install
 * under /etc/simplesamlphp is never read or changed. See docs/testing-peers.md.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Install folder of the Debian package (code, www root, modules). */
export const DEBIAN_SIMPLESAMLPHP_DIR = "/usr/share/simplesamlphp";

const CONVERTER_SCRIPT = join(
  dirname(fileURLToPath(import.meta.url)),
  "simplesamlphp",
  "convert-sp-metadata.php",
);

const ATTRNAME_FORMAT_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
const NAMEID_FORMAT_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/**
 * Internal attribute that carries each user's fixed persistent NameID value. The IdP turns it
 * into the NameID (saml:AttributeNameID) and then removes it, so SPs never receive it.
 */
const NAMEID_SOURCE_ATTRIBUTE = "urn:federated-signin:test:persistent-nameid";

/** SAML attribute names that Entra ID enterprise applications emit by default. */
export const ENTRA_CLAIMS = {
  tenantId: "http://schemas.microsoft.com/identity/claims/tenantid",
  objectId: "http://schemas.microsoft.com/identity/claims/objectidentifier",
  identityProvider: "http://schemas.microsoft.com/identity/claims/identityprovider",
  email: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
  name: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
  displayName: "http://schemas.microsoft.com/identity/claims/displayname",
  givenName: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
  surname: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
  groups: "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
  groupsLink: "http://schemas.microsoft.com/claims/groups.link",
  role: "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
  authMethods: "http://schemas.microsoft.com/claims/authnmethodsreferences",
} as const;

/** A user of the `exampleauth:UserPass` auth source. */
export interface SimpleSamlPhpUser {
  username: string;
  password: string;
  /** Value of the persistent NameID that the IdP sends for this user to every SP. */
  nameId: string;
  /** SAML attributes by attribute name, each with one or more string values. */
  attributes: Record<string, string[]>;
}

const TEST_TENANT_ID = "5b8e3a52-6f0c-4d7a-9a31-2c4f7e1d9b60";
const PASSWORD_AUTH_METHOD =
  "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password";

/**
 * Default test users, all in one made-up tenant. alice has groups and two roles, bob has no
 * groups and one role, and carol has the groups overage link in place of a groups claim.
 */
export const DEFAULT_SIMPLESAMLPHP_USERS: readonly SimpleSamlPhpUser[] = [
  {
    username: "alice",
    password: "alice-password",
    nameId: "pairwise-alice-4f1c9a7e2b",
    attributes: {
      [ENTRA_CLAIMS.tenantId]: [TEST_TENANT_ID],
      [ENTRA_CLAIMS.objectId]: ["0f6a2d41-8c3b-4e59-b7a2-91d35c7e4f18"],
      [ENTRA_CLAIMS.identityProvider]: [`https://sts.windows.net/${TEST_TENANT_ID}/`],
      [ENTRA_CLAIMS.email]: ["alice@example.org"],
      [ENTRA_CLAIMS.name]: ["alice@example.org"],
      [ENTRA_CLAIMS.displayName]: ["Alice Example"],
      [ENTRA_CLAIMS.givenName]: ["Alice"],
      [ENTRA_CLAIMS.surname]: ["Example"],
      [ENTRA_CLAIMS.groups]: [
        "3c9e7f10-2b4d-4a8e-9f61-7d2c5b8a1e03",
        "a71d4e28-95c3-4b0f-8e6a-0c3f9d2b7a54",
      ],
      [ENTRA_CLAIMS.role]: ["Editor", "Viewer"],
      [ENTRA_CLAIMS.authMethods]: [PASSWORD_AUTH_METHOD],
    },
  },
  {
    username: "bob",
    password: "bob-password",
    nameId: "pairwise-bob-9d3e61c0a8",
    attributes: {
      [ENTRA_CLAIMS.tenantId]: [TEST_TENANT_ID],
      [ENTRA_CLAIMS.objectId]: ["6e2b9c57-1d4a-4f83-a0c9-5b7e3d1f2a86"],
      [ENTRA_CLAIMS.identityProvider]: [`https://sts.windows.net/${TEST_TENANT_ID}/`],
      [ENTRA_CLAIMS.email]: ["bob@example.org"],
      [ENTRA_CLAIMS.name]: ["bob@example.org"],
      [ENTRA_CLAIMS.displayName]: ["Bob Example"],
      [ENTRA_CLAIMS.givenName]: ["Bob"],
      [ENTRA_CLAIMS.surname]: ["Example"],
      [ENTRA_CLAIMS.role]: ["Viewer"],
      [ENTRA_CLAIMS.authMethods]: [PASSWORD_AUTH_METHOD],
    },
  },
  {
    username: "carol",
    password: "carol-password",
    nameId: "pairwise-carol-2a7f5b8d14",
    attributes: {
      [ENTRA_CLAIMS.tenantId]: [TEST_TENANT_ID],
      [ENTRA_CLAIMS.objectId]: ["c4a81f3e-7b26-4d95-8e0a-3f6d2c9b1e75"],
      [ENTRA_CLAIMS.identityProvider]: [`https://sts.windows.net/${TEST_TENANT_ID}/`],
      [ENTRA_CLAIMS.email]: ["carol@example.org"],
      [ENTRA_CLAIMS.name]: ["carol@example.org"],
      [ENTRA_CLAIMS.displayName]: ["Carol Example"],
      [ENTRA_CLAIMS.givenName]: ["Carol"],
      [ENTRA_CLAIMS.surname]: ["Example"],
      [ENTRA_CLAIMS.groupsLink]: [
        `https://graph.windows.net/${TEST_TENANT_ID}/users/c4a81f3e-7b26-4d95-8e0a-3f6d2c9b1e75/getMemberObjects`,
      ],
      [ENTRA_CLAIMS.authMethods]: [PASSWORD_AUTH_METHOD],
    },
  },
];

export interface StartSimpleSamlPhpOptions {
  /**
   * Loopback http URL of the SP's SAML metadata (an EntityDescriptor with one SAML 2.0
   * SPSSODescriptor). The harness fetches it once at start and converts it with
   * SimpleSAMLphp's own parser, so the IdP trusts exactly what the metadata declares.
   */
  spMetadataUrl: string;
  /** Sign the Assertion (saml20.sign.assertion). Default true, which overrides WantAssertionsSigned. */
  signAssertion?: boolean;
  /** Sign the Response (saml20.sign.response). Default false. */
  signResponse?: boolean;
  /** Port on 127.0.0.1. Default: a free port picked at start. */
  port?: number;
  /** IdP entity ID. Default: the IdP metadata URL, as SimpleSAMLphp itself does. */
  entityId?: string;
  /** Users of the login form. Default: DEFAULT_SIMPLESAMLPHP_USERS. */
  users?: readonly SimpleSamlPhpUser[];
  /** Max time from start until the IdP metadata URL returns 200, in milliseconds. Default 15000. */
  startupTimeoutMs?: number;
}

export interface SimpleSamlPhpIdp {
  /** Origin of the IdP, without a trailing slash, e.g. http://127.0.0.1:41234. */
  baseUrl: string;
  /** IdP metadata (EntityDescriptor with the signing certificate and the SSO endpoints). */
  metadataUrl: string;
  entityId: string;
  /** SingleSignOnService URL, which accepts HTTP-Redirect and HTTP-POST AuthnRequests. */
  ssoUrl: string;
  /** Entity ID of the SP read from spMetadataUrl. */
  spEntityId: string;
  /** PEM of the IdP's self-signed signing certificate, generated at start. */
  certificatePem: string;
  /** File that contains certificatePem, removed by stop(). */
  certificatePath: string;
  users: readonly SimpleSamlPhpUser[];
  /** Returns the SimpleSAMLphp log, PHP errors and the server's request log, for failure messages. */
  readLogs(): Promise<string>;
  /** Stops the PHP server and removes the temporary folder. Calling it again does nothing. */
  stop(): Promise<void>;
}

/**
 * Returns why the harness cannot run on this machine (`php` not on PATH, SimpleSAMLphp not
 * installed under /usr/share/simplesamlphp, or PHP without the dom extension), or null when it
 * can. test/peers/install-peers.sh installs all three.
 */
export function simpleSamlPhpUnavailableReason(): string | null {
  const pathEntries = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  if (!pathEntries.some((entry) => existsSync(join(entry, "php")))) {
    return "php is not on PATH (install php-cli, e.g. with test/peers/install-peers.sh)";
  }
  const ssoScript = join(DEBIAN_SIMPLESAMLPHP_DIR, "www", "saml2", "idp", "SSOService.php");
  if (!existsSync(ssoScript)) {
    return `SimpleSAMLphp is not installed (${ssoScript} not found; install the Debian package simplesamlphp, e.g. with test/peers/install-peers.sh)`;
  }
  // The Debian package does not depend on php-xml, but SimpleSAMLphp cannot parse any XML
  // without the dom extension.
  const domLoaded = execFileSync("php", ["-r", 'echo extension_loaded("dom") ? "yes" : "no";'], {
    encoding: "utf8",
  });
  if (domLoaded !== "yes") {
    return "the PHP dom extension is missing (install php-xml, e.g. with test/peers/install-peers.sh)";
  }
  return null;
}

/**
 * Starts SimpleSAMLphp as a SAML IdP on 127.0.0.1 that trusts the SP described by
 * options.spMetadataUrl, and waits until its metadata URL returns 200.
 */
export async function startSimpleSamlPhp(
  options: StartSimpleSamlPhpOptions,
): Promise<SimpleSamlPhpIdp> {
  const unavailable = simpleSamlPhpUnavailableReason();
  if (unavailable !== null) {
    throw new Error(`Cannot start SimpleSAMLphp: ${unavailable}`);
  }
  const spMetadataUrl = parseLoopbackHttpUrl(options.spMetadataUrl);
  const users = options.users ?? DEFAULT_SIMPLESAMLPHP_USERS;
  validateUsers(users);

  const rootDir = await mkdtemp(join(tmpdir(), "simplesamlphp-idp-"));
  const dirs = {
    config: join(rootDir, "config"),
    metadata: join(rootDir, "metadata"),
    cert: join(rootDir, "cert"),
    log: join(rootDir, "log"),
    data: join(rootDir, "data"),
    temp: join(rootDir, "tmp"),
    sessions: join(rootDir, "sessions"),
  };
  let server: PhpServer | undefined;
  try {
    for (const dir of Object.values(dirs)) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    }
    const certificatePath = join(dirs.cert, "idp.crt");
    await generateSigningKeyPair(join(dirs.cert, "idp.key"), certificatePath);
    await writeFile(join(dirs.config, "authsources.php"), renderAuthSources(users));

    // The parser loads SimpleSAMLphp's configuration, so config.php must exist before the
    // conversion. Its base URL is rewritten below once the port is final.
    const secrets = {
      secretSalt: randomBytes(32).toString("hex"),
      adminPassword: randomBytes(32).toString("hex"),
    };
    await writeConfig(dirs, "http://127.0.0.1:1", secrets);
    const spEntityId = await convertSpMetadata({
      spMetadataUrl,
      dirs,
      signAssertion: options.signAssertion ?? true,
      signResponse: options.signResponse ?? false,
    });

    // A port picked by the harness may be taken by someone else before PHP binds it, so a
    // failed bind is retried with a new port. A port given in options is tried once.
    const maxAttempts = options.port === undefined ? 3 : 1;
    let baseUrl = "";
    let entityId = "";
    for (let attempt = 1; server === undefined; attempt += 1) {
      const port = options.port ?? (await pickFreePort());
      baseUrl = `http://127.0.0.1:${port}`;
      entityId = options.entityId ?? `${baseUrl}/saml2/idp/metadata.php`;
      await writeConfig(dirs, baseUrl, secrets);
      await writeFile(join(dirs.metadata, "saml20-idp-hosted.php"), renderIdpHosted(entityId));
      try {
        server = await startPhpServer({
          port,
          configDir: dirs.config,
          phpErrorLog: join(dirs.log, "php-errors.log"),
          readyUrl: `${baseUrl}/saml2/idp/metadata.php`,
          timeoutMs: options.startupTimeoutMs ?? 15_000,
        });
      } catch (error) {
        if (!(error instanceof PortInUseError) || attempt >= maxAttempts) {
          throw error;
        }
      }
    }

    const runningServer = server;
    const certificatePem = await readFile(certificatePath, "utf8");
    let stopped = false;
    return {
      baseUrl,
      metadataUrl: `${baseUrl}/saml2/idp/metadata.php`,
      entityId,
      ssoUrl: `${baseUrl}/saml2/idp/SSOService.php`,
      spEntityId,
      certificatePem,
      certificatePath,
      users,
      readLogs: () => readLogs(dirs.log, runningServer),
      async stop() {
        if (stopped) {
          return;
        }
        stopped = true;
        await runningServer.stop();
        await rm(rootDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await server?.stop();
    await rm(rootDir, { recursive: true, force: true });
    throw error;
  }
}

type HarnessDirs = Record<
  "config" | "metadata" | "cert" | "log" | "data" | "temp" | "sessions",
  string
>;

/** Parses url and rejects anything but http on a loopback host, so no request leaves the machine. */
function parseLoopbackHttpUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`Invalid spMetadataUrl ${JSON.stringify(url)}: not an absolute URL`);
  }
  const host = parsed.hostname;
  const isLoopback =
    host === "localhost" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  if (parsed.protocol !== "http:" || !isLoopback) {
    throw new Error(
      `Invalid spMetadataUrl ${JSON.stringify(url)}: expected http:// on localhost, 127.0.0.0/8 or [::1]`,
    );
  }
  return parsed;
}

function validateUsers(users: readonly SimpleSamlPhpUser[]): void {
  if (users.length === 0) {
    throw new Error("Invalid users: at least one user is required");
  }
  for (const user of users) {
    // exampleauth:UserPass keys its users by "<username>:<password>".
    if (user.username === "" || user.username.includes(":")) {
      throw new Error(
        `Invalid username ${JSON.stringify(user.username)}: must be non-empty without ":"`,
      );
    }
    if (user.nameId === "") {
      throw new Error(`Invalid nameId for user ${user.username}: must be non-empty`);
    }
    if (NAMEID_SOURCE_ATTRIBUTE in user.attributes) {
      throw new Error(
        `Invalid attributes for user ${user.username}: ${NAMEID_SOURCE_ATTRIBUTE} is reserved`,
      );
    }
  }
}

async function generateSigningKeyPair(keyPath: string, certificatePath: string): Promise<void> {
  await execFileAsync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-sha256",
    "-days",
    "2",
    "-subj",
    "/CN=simplesamlphp-test-idp",
    "-keyout",
    keyPath,
    "-out",
    certificatePath,
  ]);
}

/** Opens and closes a listener on 127.0.0.1 port 0 and returns the port the OS assigned. */
async function pickFreePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      if (address === null || typeof address === "string") {
        probe.close();
        reject(new Error("Failed to pick a free port: listener has no TCP address"));
        return;
      }
      probe.close(() => resolve(address.port));
    });
  });
}

/**
 * Fetches the SP metadata, converts it into metadata/saml20-sp-remote.php with
 * convert-sp-metadata.php and returns the SP's entity ID.
 */
async function convertSpMetadata(args: {
  spMetadataUrl: URL;
  dirs: HarnessDirs;
  signAssertion: boolean;
  signResponse: boolean;
}): Promise<string> {
  const { spMetadataUrl, dirs } = args;
  // redirect "error" keeps the request on the loopback URL that was checked.
  const response = await fetch(spMetadataUrl, { redirect: "error" });
  if (!response.ok) {
    throw new Error(
      `Failed to fetch SP metadata from ${spMetadataUrl.href}: HTTP ${response.status}`,
    );
  }
  const xmlPath = join(dirs.temp, "sp-metadata.xml");
  await writeFile(xmlPath, await response.text());

  // The harness's policy wins over what the SP metadata requests: the signing mode, RSA-SHA256,
  // a persistent NameID and URI attribute names, as Entra sends them.
  const overrides = {
    "saml20.sign.assertion": args.signAssertion,
    "saml20.sign.response": args.signResponse,
    "signature.algorithm": RSA_SHA256,
    NameIDFormat: NAMEID_FORMAT_PERSISTENT,
    "attributes.NameFormat": ATTRNAME_FORMAT_URI,
  };
  const overridesPath = join(dirs.temp, "sp-overrides.json");
  await writeFile(overridesPath, JSON.stringify(overrides));

  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(
      "php",
      [
        CONVERTER_SCRIPT,
        DEBIAN_SIMPLESAMLPHP_DIR,
        xmlPath,
        overridesPath,
        join(dirs.metadata, "saml20-sp-remote.php"),
      ],
      { env: { ...process.env, SIMPLESAMLPHP_CONFIG_DIR: dirs.config } },
    ));
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(
      `SimpleSAMLphp rejected the SP metadata from ${spMetadataUrl.href}: ${stderr.trim() || String(error)}`,
    );
  }
  const result = JSON.parse(stdout) as { entityIds: string[] };
  const spEntityId = result.entityIds[0];
  if (spEntityId === undefined) {
    throw new Error(`SP metadata conversion returned no entity ID: ${stdout}`);
  }
  return spEntityId;
}

async function writeConfig(
  dirs: HarnessDirs,
  baseUrl: string,
  secrets: { secretSalt: string; adminPassword: string },
): Promise<void> {
  const config: PhpValue = {
    baseurlpath: `${baseUrl}/`,
    certdir: `${dirs.cert}/`,
    loggingdir: `${dirs.log}/`,
    datadir: `${dirs.data}/`,
    tempdir: dirs.temp,
    metadatadir: `${dirs.metadata}/`,
    "metadata.sources": [{ type: "flatfile", directory: dirs.metadata }],
    secretsalt: secrets.secretSalt,
    "auth.adminpassword": secrets.adminPassword,
    "admin.protectindexpage": true,
    // The IdP metadata URL must stay public, because SPs fetch it without a login.
    "admin.protectmetadata": false,
    "admin.checkforupdates": false,
    technicalcontact_name: "federated-signin tests",
    technicalcontact_email: "na@example.org",
    timezone: "UTC",
    "enable.saml20-idp": true,
    "enable.shib13-idp": false,
    "enable.adfs-idp": false,
    // The admin module stays off: the harness is only an IdP, and its pages need an admin login.
    "module.enable": { core: true, saml: true, exampleauth: true, admin: false },
    // The IdP serves plain http, so a Secure cookie would never come back, and browsers reject
    // SameSite=None without Secure. Lax is enough because the login pages are all on the
    // IdP's own origin. The cross-site hop back to the SP is a form POST without IdP cookies.
    "session.cookie.secure": false,
    "session.cookie.samesite": "Lax",
    "session.phpsession.cookiename": "SimpleSAML",
    "session.phpsession.savepath": dirs.sessions,
    "session.phpsession.httponly": true,
    "session.authtoken.cookiename": "SimpleSAMLAuthToken",
    "language.cookie.secure": false,
    "language.cookie.samesite": "Lax",
    "store.type": "phpsession",
    "logging.handler": "file",
    "logging.logfile": "simplesamlphp.log",
    // 6 is SimpleSAML\Logger::INFO. DEBUG and debug.saml would write whole SAML messages.
    "logging.level": 6,
    debug: { saml: false, backtraces: true, validatexml: false },
    showerrors: true,
    errorreporting: false,
    production: true,
    "trusted.url.domains": [],
    "enable.http_post": false,
    "authproc.idp": {},
  };
  await writeFile(join(dirs.config, "config.php"), `<?php\n$config = ${toPhp(config)};\n`);
}

function renderAuthSources(users: readonly SimpleSamlPhpUser[]): string {
  const userPass: Record<string, PhpValue> = { "0": "exampleauth:UserPass" };
  for (const user of users) {
    userPass[`${user.username}:${user.password}`] = {
      ...user.attributes,
      [NAMEID_SOURCE_ATTRIBUTE]: [user.nameId],
    };
  }
  const sources: PhpValue = { "example-userpass": userPass };
  return `<?php\n$config = ${toPhp(sources)};\n`;
}

function renderIdpHosted(entityId: string): string {
  const idp: PhpValue = {
    host: "__DEFAULT__",
    privatekey: "idp.key",
    certificate: "idp.crt",
    auth: "example-userpass",
    "attributes.NameFormat": ATTRNAME_FORMAT_URI,
    NameIDFormat: NAMEID_FORMAT_PERSISTENT,
    "signature.algorithm": RSA_SHA256,
    authproc: {
      "10": {
        class: "saml:AttributeNameID",
        Format: NAMEID_FORMAT_PERSISTENT,
        attribute: NAMEID_SOURCE_ATTRIBUTE,
      },
      "20": {
        class: "core:PHP",
        code: `unset($attributes[${toPhp(NAMEID_SOURCE_ATTRIBUTE)}]);`,
      },
    },
  };
  return `<?php\n$metadata[${toPhp(entityId)}] = ${toPhp(idp)};\n`;
}

type PhpValue = string | number | boolean | null | PhpValue[] | { [key: string]: PhpValue };

/**
 * Renders value as a PHP literal. Object keys that are decimal integers become integer keys in
 * PHP, which is how SimpleSAMLphp's mixed lists (auth sources, authproc priorities) are written.
 */
function toPhp(value: PhpValue, indent = ""): string {
  if (value === null) {
    return "null";
  }
  if (typeof value === "string") {
    return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new Error(`Cannot write ${value} as a PHP literal`);
    }
    return String(value);
  }
  if (typeof value === "boolean") {
    return value ? "true" : "false";
  }
  const inner = `${indent}    `;
  const entries = Array.isArray(value)
    ? value.map((item) => `${inner}${toPhp(item, inner)}`)
    : Object.entries(value).map(([key, item]) => `${inner}${toPhp(key)} => ${toPhp(item, inner)}`);
  return entries.length === 0 ? "[]" : `[\n${entries.join(",\n")},\n${indent}]`;
}

class PortInUseError extends Error {}

interface PhpServer {
  /** Last lines that the PHP server wrote to stdout and stderr (its request log). */
  outputTail(): string;
  stop(): Promise<void>;
}

const OUTPUT_TAIL_LINES = 200;

/** Starts `php -S 127.0.0.1:<port>` on SimpleSAMLphp's www folder and waits until readyUrl returns 200. */
async function startPhpServer(args: {
  port: number;
  configDir: string;
  phpErrorLog: string;
  readyUrl: string;
  timeoutMs: number;
}): Promise<PhpServer> {
  const child = spawn(
    "php",
    [
      "-S",
      `127.0.0.1:${args.port}`,
      "-t",
      join(DEBIAN_SIMPLESAMLPHP_DIR, "www"),
      // PHP 8.2 reports deprecations in SimpleSAMLphp 1.19 code. Writing them into the pages
      // would break redirects and forms, so they go to a log file instead.
      "-d",
      "display_errors=0",
      "-d",
      "log_errors=1",
      "-d",
      `error_log=${args.phpErrorLog}`,
    ],
    {
      env: { ...process.env, SIMPLESAMLPHP_CONFIG_DIR: args.configDir },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );

  const outputLines: string[] = [];
  const collect = (chunk: Buffer) => {
    outputLines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    outputLines.splice(0, Math.max(0, outputLines.length - OUTPUT_TAIL_LINES));
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exitController = new AbortController();
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exitController.abort();
      resolve();
    }),
  );

  const server: PhpServer = {
    outputTail: () => outputLines.join("\n"),
    stop: () => stopChild(child, exited),
  };

  try {
    await waitUntilReady(
      child,
      exitController.signal,
      args.readyUrl,
      args.timeoutMs,
      server.outputTail,
    );
    return server;
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function waitUntilReady(
  child: ChildProcess,
  exitSignal: AbortSignal,
  readyUrl: string,
  timeoutMs: number,
  outputTail: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = "no answer yet";
  const throwIfExited = () => {
    if (child.exitCode === null && child.signalCode === null) {
      return;
    }
    const output = outputTail();
    if (/address already in use/i.test(output)) {
      throw new PortInUseError(`php -S failed to listen on ${readyUrl}: address already in use`);
    }
    throw new Error(
      `php -S exited with ${child.exitCode ?? child.signalCode} before ${readyUrl} returned 200. Output:\n${output}`,
    );
  };
  while (Date.now() < deadline) {
    throwIfExited();
    try {
      // When another process listens on the port and accepts connections without responding, the
      // request ends as soon as PHP exits, or after 2 s.
      const response = await fetch(readyUrl, {
        redirect: "manual",
        signal: AbortSignal.any([AbortSignal.timeout(2_000), exitSignal]),
      });
      const body = await response.text();
      // A 200 from another process on the port does not count if PHP has exited meanwhile.
      throwIfExited();
      if (response.status === 200) {
        return;
      }
      lastProblem = `HTTP ${response.status}: ${body.slice(0, 2000)}`;
    } catch (error) {
      lastProblem = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `Timed out after ${timeoutMs} ms waiting for ${readyUrl} to return 200 (last result: ${lastProblem}). Output:\n${outputTail()}`,
  );
}

/** Sends SIGTERM, then SIGKILL after 5 s, and resolves when the process has exited. */
async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

async function readLogs(logDir: string, server: PhpServer): Promise<string> {
  const sections: string[] = [];
  for (const name of ["simplesamlphp.log", "php-errors.log"]) {
    const text = await readFile(join(logDir, name), "utf8").catch(() => "(no file)");
    sections.push(`== ${name} ==\n${text}`);
  }
  sections.push(`== php -S output (last ${OUTPUT_TAIL_LINES} lines) ==\n${server.outputTail()}`);
  return sections.join("\n");
}
