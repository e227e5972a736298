import { describe, expect, it } from "@jest/globals";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Koa from "koa";
import request from "supertest";
import YAML from "yaml";
import { loadConfigFile, parseConfig } from "../../src/config/load.js";
import { createSignIn } from "../../src/http/create-sign-in.js";
import { createLogger } from "../../src/logger.js";
import { startSession } from "../../src/session/session.js";
import { TEST_SESSION_KEY, cookieHeader } from "../support/fakes.js";
import { pickFreePort } from "./nginx.js";

// Consistency checks of the deployment files against each other and against the service, for
// the parts that this machine cannot run (docker build, docker compose, Traefik).

const execFileAsync = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const readText = (path: string) => readFileSync(join(root, path), "utf8");

interface ComposeFile {
  services: Record<
    string,
    { image?: string; environment?: Record<string, string>; volumes?: string[]; command?: string[] }
  >;
}

const compose = YAML.parse(readText("deploy/docker-compose.yml")) as ComposeFile;
const dockerfile = readText("Dockerfile");

/** Returns the JSON exec-form array of a Dockerfile instruction such as ENTRYPOINT. */
function execForm(instruction: string): string[] {
  const joined = dockerfile.replace(/\\\n\s*/g, "");
  const line = joined.split("\n").find((text) => text.startsWith(`${instruction} `));
  expect(line).toBeDefined();
  const json = (line ?? "").slice((line ?? "").indexOf("["));
  return JSON.parse(json) as string[];
}

/** Returns the variable names of all `env:NAME` string values in a parsed config. */
function envReferences(value: unknown): string[] {
  if (typeof value === "string") return value.startsWith("env:") ? [value.slice(4)] : [];
  if (Array.isArray(value)) return value.flatMap(envReferences);
  if (value !== null && typeof value === "object")
    return Object.values(value).flatMap(envReferences);
  return [];
}

/** Returns the X-Auth-Request-* header names that GET /auth sends for a full identity. */
async function forwardAuthHeaderNames(): Promise<string[]> {
  const config = parseConfig({
    baseUrl: "http://localhost:3000",
    session: { keys: [TEST_SESSION_KEY] },
  });
  const signIn = await createSignIn(config, { logger: createLogger("silent") });
  try {
    const app = new Koa();
    signIn.mount(app);
    app.use(async (ctx) => {
      await startSession(ctx, signIn.services.clock, signIn.services.lifetime, {
        identity: {
          id: "mercy-saml:subject-1",
          connection: "mercy-saml",
          protocol: "saml",
          issuer: "https://idp.example.org",
          subject: "subject-1",
          email: "alice@example.org",
          username: "alice",
          groups: ["g1"],
          roles: ["r1"],
          authMethods: [],
          authenticatedAt: "2026-12-04T12:00:00.000Z",
          claims: {},
        },
      });
      ctx.status = 204;
    });
    const signedIn = await request(app.callback()).post("/test/sign-in");
    const cookie = cookieHeader(signedIn.headers["set-cookie"]);
    const response = await request(app.callback()).get("/auth").set("Cookie", cookie);
    expect(response.status).toBe(200);
    return Object.keys(response.headers)
      .filter((name) => name.startsWith("x-auth-request-"))
      .sort();
  } finally {
    await signIn.close();
  }
}

describe("deployment files", () => {
  it("compose config is valid for the service", () => {
    const signin = compose.services.signin;
    expect(signin).toBeDefined();
    const environment = Object.fromEntries(
      Object.keys(signin?.environment ?? {}).map((name) => [name, `value-of-${name}-`.repeat(3)]),
    );
    environment.FEDERATED_SIGNIN_BASE_URL = "https://signin.example.org";
    const config = loadConfigFile(join(root, "deploy/federated-signin.yaml"), environment);
    expect(config.session.store).toEqual({
      type: "redis",
      url: "redis://redis:6379",
      prefix: "fs:",
    });
    expect(config.listen.host).toBe("0.0.0.0");
    expect(config.trustProxy).toBe(true);
  });

  it("compose sets every env: reference", () => {
    const references = envReferences(YAML.parse(readText("deploy/federated-signin.yaml"))).sort();
    expect(references.length).toBeGreaterThan(0);
    const composeNames = Object.keys(compose.services.signin?.environment ?? {}).sort();
    expect(composeNames).toEqual(references);
    const exampleNames = [...readText("deploy/.env.example").matchAll(/^([A-Z0-9_]+)=/gm)]
      .map((match) => match[1])
      .sort();
    expect(exampleNames).toEqual(references);
  });

  it("compose mounts the image's config path", () => {
    const entrypoint = execForm("ENTRYPOINT");
    const configPath = entrypoint[entrypoint.indexOf("--config") + 1];
    expect(configPath).toBe("/etc/federated-signin/config.yaml");
    expect(compose.services.signin?.volumes).toContain(`./federated-signin.yaml:${configPath}:ro`);
    expect(compose.services.redis?.image).toBe("redis:7");
  });

  it("image runs as a non-root user", () => {
    const users = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].map((match) => match[1]);
    expect(users.at(-1)).toBeDefined();
    expect(["root", "0"]).not.toContain(users.at(-1));
    expect(dockerfile).toMatch(/^EXPOSE 3000$/m);
  });

  it("build context allow list", () => {
    const allowed = readText(".dockerignore")
      .split("\n")
      .filter((line) => line.startsWith("!"))
      .map((line) => line.slice(1).replace(/\/$/, ""));
    const sources = [...dockerfile.matchAll(/^COPY\s+(?!--from)(.+)$/gm)].flatMap((match) => {
      const parts = (match[1] ?? "").trim().split(/\s+/);
      return parts.slice(0, -1);
    });
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect([source, allowed.includes(source)]).toEqual([source, true]);
    }
    for (const entry of allowed) {
      expect([entry, /\.(key|pem)$|^certs$|^\.env/.test(entry)]).toEqual([entry, false]);
    }
  });

  it("HEALTHCHECK command checks /healthz", async () => {
    const command = execForm("HEALTHCHECK");
    expect(command[0]).toBe("node");
    expect(command.join(" ")).toContain("/healthz");

    const config = parseConfig({
      baseUrl: "http://localhost:3000",
      session: { keys: [TEST_SESSION_KEY] },
    });
    const signIn = await createSignIn(config, { logger: createLogger("silent") });
    const app = new Koa();
    signIn.mount(app);
    const server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    try {
      const port = (server.address() as AddressInfo).port;
      const healthy = await execFileAsync(process.execPath, command.slice(1), {
        env: { ...process.env, HEALTHCHECK_URL: `http://127.0.0.1:${port}/healthz` },
      });
      expect(healthy.stderr).toBe("");

      const closedPort = await pickFreePort();
      await expect(
        execFileAsync(process.execPath, command.slice(1), {
          env: { ...process.env, HEALTHCHECK_URL: `http://127.0.0.1:${closedPort}/healthz` },
        }),
      ).rejects.toMatchObject({ code: 1 });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await signIn.close();
    }
  });

  it("proxy header lists match GET /auth", async () => {
    const serviceHeaders = await forwardAuthHeaderNames();
    expect(serviceHeaders).toHaveLength(6);

    const nginx = readText("deploy/nginx/federated-signin.conf");
    const nginxCopied = [...nginx.matchAll(/\$upstream_http_(x_auth_request_[a-z_]+);/g)]
      .map((match) => (match[1] ?? "").replaceAll("_", "-"))
      .sort();
    expect(nginxCopied).toEqual(serviceHeaders);
    const nginxSent = [...nginx.matchAll(/proxy_set_header (X-Auth-Request-[A-Za-z-]+) /g)]
      .map((match) => (match[1] ?? "").toLowerCase())
      .sort();
    expect(nginxSent).toEqual(serviceHeaders);

    const traefik = YAML.parse(readText("deploy/traefik/dynamic.yml")) as {
      http: {
        middlewares: Record<
          string,
          {
            forwardAuth?: {
              address: string;
              trustForwardHeader: boolean;
              authResponseHeaders: string[];
            };
            headers?: { customRequestHeaders: Record<string, string> };
          }
        >;
      };
    };
    const forwardAuth = traefik.http.middlewares["federated-signin-auth"]?.forwardAuth;
    expect(forwardAuth?.address).toBe("http://signin:3000/auth?redirect=1");
    expect(forwardAuth?.trustForwardHeader).toBe(false);
    expect(forwardAuth?.authResponseHeaders.map((name) => name.toLowerCase()).sort()).toEqual(
      serviceHeaders,
    );
    const stripped =
      traefik.http.middlewares["strip-identity-headers"]?.headers?.customRequestHeaders;
    expect(
      Object.keys(stripped ?? {})
        .map((name) => name.toLowerCase())
        .sort(),
    ).toEqual(serviceHeaders);
    expect(Object.values(stripped ?? {}).every((value) => value === "")).toBe(true);
  });
});
