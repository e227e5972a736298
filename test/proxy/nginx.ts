/**
 * Test harness that runs a real nginx, configured from deploy/nginx/federated-signin.conf, as
 * a child process on loopback. Everything nginx writes (pid, logs, temporary files, the TLS
 * key) goes into one temporary folder, and nothing under /etc or /var is read or changed.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** The nginx config template under test. */
export const NGINX_TEMPLATE = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "deploy",
  "nginx",
  "federated-signin.conf",
);

/** Returns the path of the nginx binary (Debian installs it in /usr/sbin), or null. */
export function findNginx(): string | null {
  const directories = [
    "/usr/sbin",
    "/usr/local/sbin",
    ...(process.env.PATH ?? "").split(delimiter),
  ];
  for (const directory of directories) {
    if (directory === "") continue;
    const candidate = join(directory, "nginx");
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** Opens and closes a listener on 127.0.0.1 port 0 and returns the port the OS assigned. */
export async function pickFreePort(): Promise<number> {
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
 * Replaces the `${NAME}` placeholders of an nginx config template. Full-line comments are
 * dropped first, because they mention placeholders only as documentation. Throws when a
 * placeholder is left without a value, so a new placeholder in the template fails the test.
 */
export function renderTemplate(template: string, values: Record<string, string>): string {
  const withoutComments = template
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("#"))
    .join("\n");
  const rendered = withoutComments.replace(/\$\{([A-Z0-9_]+)\}/g, (placeholder, name: string) =>
    Object.hasOwn(values, name) ? (values[name] as string) : placeholder,
  );
  const missing = [...rendered.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((match) => match[1]);
  if (missing.length > 0) {
    throw new Error(
      `nginx template placeholders missing a value: ${missing.join(", ")}; pass them to renderTemplate`,
    );
  }
  return rendered;
}

/** Creates a self-signed P-256 certificate for 127.0.0.1 with the openssl command. */
async function createTlsCertificate(folder: string): Promise<{ certificate: string; key: string }> {
  const certificate = join(folder, "tls.crt");
  const key = join(folder, "tls.key");
  try {
    await execFileAsync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      key,
      "-out",
      certificate,
    ]);
  } catch (error) {
    throw new Error(
      `Failed to create the test TLS certificate with openssl (apt-get install openssl): ${
        (error as Error).message
      }`,
    );
  }
  return { certificate, key };
}

/** Options of {@link startNginx}. */
export interface NginxOptions {
  /** Path of the nginx binary. */
  binary: string;
  /** host:port of federated-signin. */
  signInAddress: string;
  /** host:port of the protected app. */
  appAddress: string;
  /** Changes the rendered server config before nginx loads it (to add a location, say). */
  editServerConfig?: (config: string) => string;
}

/** A running nginx. */
export interface RunningNginx {
  /** Public origin, https://127.0.0.1:PORT, which the service must use as its baseUrl. */
  httpsOrigin: string;
  httpsPort: number;
  /** Port of the plain HTTP listener that redirects to https. */
  httpPort: number;
  /** PEM of the self-signed certificate, for the client's `ca` option. */
  certificatePem: string;
  /** Returns nginx's error log, for failure messages. */
  readErrorLog(): Promise<string>;
  stop(): Promise<void>;
}

/** Picks the two listener ports before the service starts, because baseUrl must name them. */
export async function pickNginxPorts(): Promise<{ httpsPort: number; httpPort: number }> {
  const httpsPort = await pickFreePort();
  let httpPort = await pickFreePort();
  while (httpPort === httpsPort) httpPort = await pickFreePort();
  return { httpsPort, httpPort };
}

function mainConfig(folder: string, serverConfigPath: string): string {
  return `# Generated by test/proxy/nginx.ts; all paths are under this temporary folder.
daemon off;
master_process off;
worker_processes 1;
pid ${join(folder, "nginx.pid")};
error_log ${join(folder, "error.log")} warn;

events {
    worker_connections 256;
}

http {
    access_log ${join(folder, "access.log")};
    client_body_temp_path ${join(folder, "client_body")};
    proxy_temp_path ${join(folder, "proxy")};
    fastcgi_temp_path ${join(folder, "fastcgi")};
    uwsgi_temp_path ${join(folder, "uwsgi")};
    scgi_temp_path ${join(folder, "scgi")};
    include ${serverConfigPath};
}
`;
}

/** Resolves when 127.0.0.1:port accepts a TCP connection, and rejects after `timeoutMs`. */
async function waitForPort(port: number, timeoutMs: number, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited()) throw new Error("nginx exited before it accepted connections");
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (accepted) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nginx did not accept connections on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/**
 * Starts nginx in the foreground with the deploy template, TLS on `ports.httpsPort` and the
 * plain HTTP redirect on `ports.httpPort`. Checks the config with `nginx -t` first, so a broken
 * template fails with nginx's own message.
 */
export async function startNginx(
  options: NginxOptions,
  ports: { httpsPort: number; httpPort: number },
): Promise<RunningNginx> {
  const folder = await mkdtemp(join(tmpdir(), "federated-signin-nginx-"));
  const errorLogPath = join(folder, "error.log");
  const readErrorLog = async () => {
    try {
      return await readFile(errorLogPath, "utf8");
    } catch {
      return "(no error log)";
    }
  };
  let child: ChildProcess | undefined;
  try {
    const tls = await createTlsCertificate(folder);
    const template = await readFile(NGINX_TEMPLATE, "utf8");
    let serverConfig = renderTemplate(template, {
      HTTPS_LISTEN: `127.0.0.1:${ports.httpsPort}`,
      HTTP_LISTEN: `127.0.0.1:${ports.httpPort}`,
      SERVER_NAME: "127.0.0.1",
      TLS_CERTIFICATE: tls.certificate,
      TLS_CERTIFICATE_KEY: tls.key,
      SIGNIN_ADDRESS: options.signInAddress,
      APP_ADDRESS: options.appAddress,
    });
    if (options.editServerConfig) serverConfig = options.editServerConfig(serverConfig);
    const serverConfigPath = join(folder, "federated-signin.conf");
    await writeFile(serverConfigPath, serverConfig);
    const configPath = join(folder, "nginx.conf");
    await writeFile(configPath, mainConfig(folder, serverConfigPath));

    // -e sets the error log used before the config is read (nginx 1.19.5 and later), so nginx
    // never opens /var/log/nginx.
    const args = ["-p", `${folder}/`, "-e", errorLogPath, "-c", configPath];
    try {
      await execFileAsync(options.binary, [...args, "-t"]);
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? "";
      throw new Error(`nginx -t rejected the rendered config: ${stderr}${await readErrorLog()}`);
    }

    const started = spawn(options.binary, args, { stdio: ["ignore", "ignore", "pipe"] });
    child = started;
    let exited = false;
    let stderr = "";
    started.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    started.once("exit", () => {
      exited = true;
    });
    try {
      await waitForPort(ports.httpsPort, 10_000, () => exited);
    } catch (error) {
      throw new Error(`${(error as Error).message}: ${stderr}${await readErrorLog()}`);
    }

    const certificatePem = await readFile(tls.certificate, "utf8");
    return {
      httpsOrigin: `https://127.0.0.1:${ports.httpsPort}`,
      httpsPort: ports.httpsPort,
      httpPort: ports.httpPort,
      certificatePem,
      readErrorLog,
      async stop() {
        await stopChild(started);
        await rm(folder, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (child) await stopChild(child);
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
}

/** Sends SIGTERM (nginx's fast shutdown) and waits for the process to exit. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
