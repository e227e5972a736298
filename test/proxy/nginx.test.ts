import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import type { AuditSink } from "../../src/audit/audit.js";
import { parseConfig } from "../../src/config/load.js";
import { createSignIn, type SignIn } from "../../src/http/create-sign-in.js";
import type { Identity } from "../../src/identity/identity.js";
import { createLogger } from "../../src/logger.js";
import { startSession } from "../../src/session/session.js";
import { TEST_SESSION_KEY, cookieHeader, testIdentity } from "../support/fakes.js";
import { findNginx, pickNginxPorts, startNginx, type RunningNginx } from "./nginx.js";

// Without CI set, a missing nginx skips this suite with a warning. With CI set, the suite runs
// and fails instead, because CI installs nginx (test/peers/install-peers.sh).
const nginxBinary = findNginx();
const skipSuite = nginxBinary === null && !process.env.CI;
if (skipSuite) {
  console.warn(
    "test/proxy/nginx.test.ts skipped: nginx is not installed; run test/peers/install-peers.sh " +
      "(or apt-get install nginx)",
  );
}
const describeProxy = skipSuite ? describe.skip : describe;

const IDENTITY_HEADERS = [
  "x-auth-request-user",
  "x-auth-request-email",
  "x-auth-request-preferred-username",
  "x-auth-request-groups",
  "x-auth-request-roles",
  "x-auth-request-connection",
] as const;

/** Returns a distinct group object ID in Entra's GUID form. */
function groupId(index: number): string {
  return `00000000-0000-4000-8000-${String(index).padStart(12, "0")}`;
}

async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Embeds the service in a Koa host app, as test/core/session-routes.test.ts does, with a
 * test-only route that starts a session the way a protocol module does after a valid sign-in.
 * The route is reached on the service's own port, never through nginx. Query parameters:
 * `noEmail=1` leaves the email out, `groups=N` replaces the groups with N group IDs.
 */
async function startSignInService(
  baseUrl: string,
): Promise<{ signIn: SignIn; server: Server; port: number; auditLines: string[] }> {
  const config = parseConfig({
    baseUrl,
    trustProxy: true,
    session: { keys: [TEST_SESSION_KEY], maxAge: "1h", idleTimeout: "10m" },
  });
  const auditLines: string[] = [];
  const auditSink: AuditSink = {
    write: (line) => {
      auditLines.push(line);
    },
    close: async () => {},
  };
  const signIn = await createSignIn(config, { logger: createLogger("silent"), auditSink });
  const app = new Koa({ proxy: config.trustProxy });
  app.silent = true;
  signIn.mount(app);
  app.use(async (ctx, next) => {
    if (ctx.path !== "/test/sign-in" || ctx.method !== "POST") {
      await next();
      return;
    }
    const overrides: Partial<Identity> = {};
    if (ctx.query.noEmail === "1") overrides.email = undefined;
    if (typeof ctx.query.groups === "string") {
      overrides.groups = Array.from({ length: Number(ctx.query.groups) }, (_, index) =>
        groupId(index),
      );
    }
    const identity = testIdentity(overrides);
    if (identity.email === undefined) delete identity.email;
    await startSession(ctx, signIn.services.clock, signIn.services.lifetime, { identity });
    ctx.status = 204;
  });
  const server = createServer(app.callback());
  const port = await listenOnLoopback(server);
  return { signIn, server, port, auditLines };
}

interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** Starts the protected "clinical app": it records every request and echoes its URL. */
async function startClinicalApp(): Promise<{
  server: Server;
  port: number;
  received: ReceivedRequest[];
}> {
  const received: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ app: "clinical", url: req.url }));
  });
  const port = await listenOnLoopback(server);
  return { server, port, received };
}

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

describeProxy("nginx auth_request in front of the service", () => {
  let nginx: RunningNginx;
  let service: Awaited<ReturnType<typeof startSignInService>>;
  let clinicalApp: Awaited<ReturnType<typeof startClinicalApp>>;

  /** Sends a request to nginx's TLS listener and does not follow redirects. */
  async function send(
    method: string,
    path: string,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return await new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port: nginx.httpsPort,
          method,
          path,
          headers,
          ca: nginx.certificatePem,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString("utf8"),
            }),
          );
        },
      );
      req.once("error", reject);
      req.end();
    });
  }

  /** Signs in on the service's own port and returns the Cookie header to send through nginx. */
  async function signInCookie(query = ""): Promise<string> {
    const response = await new Promise<Response>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port: service.port, method: "POST", path: `/test/sign-in${query}` },
        (res) => {
          res.resume();
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: "" }),
          );
        },
      );
      req.once("error", reject);
      req.end();
    });
    expect(response.status).toBe(204);
    const cookie = cookieHeader(response.headers["set-cookie"]);
    expect(cookie).toContain("fs_session=");
    return cookie;
  }

  function requestsTo(path: string): ReceivedRequest[] {
    return clinicalApp.received.filter((received) => received.url === path);
  }

  beforeAll(async () => {
    const ports = await pickNginxPorts();
    service = await startSignInService(`https://127.0.0.1:${ports.httpsPort}`);
    clinicalApp = await startClinicalApp();
    nginx = await startNginx(
      {
        binary: nginxBinary ?? "nginx",
        signInAddress: `127.0.0.1:${service.port}`,
        appAddress: `127.0.0.1:${clinicalApp.port}`,
        // A public location of the app, the way an operator adds one for static files. It sets
        // no proxy_set_header, so it inherits the server block's identity headers.
        editServerConfig: (config) =>
          config.replace(
            /(\n\s*location \/ \{)/,
            "\n    location /public/ {\n        proxy_pass http://clinical_app;\n    }$1",
          ),
      },
      ports,
    );
  });

  afterAll(async () => {
    await nginx?.stop();
    if (clinicalApp) await closeServer(clinicalApp.server);
    if (service) {
      if (service.server.listening) await closeServer(service.server);
      await service.signIn.close();
    }
  });

  it("redirects a protected path to sign-in", async () => {
    const response = await send("GET", "/chart/patient?id=42");
    expect(response.status).toBe(302);
    const location = new URL(response.headers.location ?? "", nginx.httpsOrigin);
    expect(location.origin).toBe(nginx.httpsOrigin);
    expect(location.pathname).toBe("/");
    expect(location.searchParams.get("returnTo")).toBe("/chart/patient?id=42");
    expect(response.headers["cache-control"]).toBe("no-store");
    expect(requestsTo("/chart/patient?id=42")).toHaveLength(0);
  });

  it("serves the sign-in page from the service", async () => {
    const response = await send("GET", "/?returnTo=/chart/patient");
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^text\/html/);
    expect(response.body).toContain("Sign in");
    expect(clinicalApp.received.filter((received) => received.url.startsWith("/?"))).toHaveLength(
      0,
    );
  });

  it("passes the identity headers to the app", async () => {
    const cookie = await signInCookie();
    const response = await send("GET", "/chart/patient?id=7", { Cookie: cookie });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ app: "clinical", url: "/chart/patient?id=7" });
    const [received] = requestsTo("/chart/patient?id=7");
    expect(received).toBeDefined();
    const headers = received?.headers ?? {};
    expect(headers["x-auth-request-user"]).toBe(testIdentity().id);
    expect(headers["x-auth-request-email"]).toBe("alice@example.org");
    expect(headers["x-auth-request-preferred-username"]).toBe("alice@example.org");
    expect(headers["x-auth-request-groups"]).toBe("g-cardiology,g-staff");
    expect(headers["x-auth-request-roles"]).toBe("Clinician");
    expect(headers["x-auth-request-connection"]).toBe("mercy-saml");
    expect(headers["x-forwarded-proto"]).toBe("https");
  });

  it("passes 150 group IDs to the app", async () => {
    const cookie = await signInCookie("?groups=150");
    const response = await send("GET", "/chart/groups", { Cookie: cookie });
    expect(response.status).toBe(200);
    const groups = requestsTo("/chart/groups")[0]?.headers["x-auth-request-groups"];
    expect(typeof groups).toBe("string");
    const list = String(groups).split(",");
    expect(list).toHaveLength(150);
    expect(list[149]).toBe(groupId(149));
  });

  it("POST /logout through nginx ends access", async () => {
    const cookie = await signInCookie();
    const before = await send("GET", "/chart/before-logout", { Cookie: cookie });
    expect(before.status).toBe(200);

    // A browser's same-origin form post carries this Origin, which must equal baseUrl's.
    const logout = await send("POST", "/logout", { Cookie: cookie, Origin: nginx.httpsOrigin });
    expect(logout.status).toBe(303);
    expect(logout.headers.location).toBe(`${nginx.httpsOrigin}/`);

    const after = await send("GET", "/chart/after-logout", { Cookie: cookie });
    expect(after.status).toBe(302);
    const location = new URL(after.headers.location ?? "", nginx.httpsOrigin);
    expect(location.searchParams.get("returnTo")).toBe("/chart/after-logout");
    expect(requestsTo("/chart/after-logout")).toHaveLength(0);

    const session = await send("GET", "/session", { Cookie: cookie });
    expect(session.status).toBe(401);
  });

  it("audit log gets nginx's client address", async () => {
    const cookie = await signInCookie();
    const logout = await send("POST", "/logout", {
      Cookie: cookie,
      "X-Forwarded-For": "203.0.113.9",
    });
    expect(logout.status).toBe(303);
    const events = service.auditLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const lastLogout = events.filter((event) => event.event === "logout").at(-1);
    expect(lastLogout).toBeDefined();
    expect(lastLogout?.clientIp).toBe("127.0.0.1");
  });

  it("spoofed headers dropped when signed out", async () => {
    const spoofed = {
      "X-Auth-Request-User": "entra:attacker:admin",
      "X-Auth-Request-Groups": "g-admins",
    };
    const protectedResponse = await send("GET", "/chart/spoof-protected", spoofed);
    expect(protectedResponse.status).toBe(302);
    expect(requestsTo("/chart/spoof-protected")).toHaveLength(0);

    const publicResponse = await send("GET", "/public/logo.svg", spoofed);
    expect(publicResponse.status).toBe(200);
    const [received] = requestsTo("/public/logo.svg");
    expect(received).toBeDefined();
    for (const name of IDENTITY_HEADERS) {
      expect([name, received?.headers[name]]).toEqual([name, undefined]);
    }
  });

  it("spoofed headers replaced when signed in", async () => {
    const cookie = await signInCookie("?noEmail=1");
    const response = await send("GET", "/chart/spoof-signed-in", {
      Cookie: cookie,
      "X-Auth-Request-User": "entra:attacker:admin",
      "X-Auth-Request-Email": "admin@example.org",
      "X-Auth-Request-Groups": "g-admins",
      "X-Auth-Request-Roles": "Administrator",
      "X-Auth-Request-Connection": "other",
    });
    expect(response.status).toBe(200);
    const headers = requestsTo("/chart/spoof-signed-in")[0]?.headers ?? {};
    expect(headers["x-auth-request-user"]).toBe(testIdentity().id);
    expect(headers["x-auth-request-groups"]).toBe("g-cardiology,g-staff");
    expect(headers["x-auth-request-roles"]).toBe("Clinician");
    expect(headers["x-auth-request-connection"]).toBe("mercy-saml");
    // The identity has no email, so GET /auth sends none, and the client's must not survive.
    expect(headers["x-auth-request-email"]).toBeUndefined();
  });

  it("keeps /_auth internal", async () => {
    const cookie = await signInCookie();
    const response = await send("GET", "/_auth", { Cookie: cookie });
    expect(response.status).toBe(404);
    expect(response.headers["x-auth-request-user"]).toBeUndefined();
  });

  it("does not expose /metrics publicly", async () => {
    const response = await send("GET", "/metrics");
    expect(response.status).toBe(302);
    expect(response.body).not.toContain("federated_signin_");
  });

  it("redirects plain HTTP to https", async () => {
    const response = await new Promise<Response>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port: nginx.httpPort, method: "GET", path: "/chart/x?id=1" },
        (res) => {
          res.resume();
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: "" }),
          );
        },
      );
      req.once("error", reject);
      req.end();
    });
    expect(response.status).toBe(301);
    // $host has no port, which is right in production, where the listeners are on 80 and 443.
    expect(response.headers.location).toBe("https://127.0.0.1/chart/x?id=1");
  });

  // Last, because it stops the service.
  it("fails closed when the service is down", async () => {
    const cookie = await signInCookie();
    await closeServer(service.server);
    const response = await send("GET", "/chart/service-down", { Cookie: cookie });
    expect(response.status).toBe(500);
    expect(requestsTo("/chart/service-down")).toHaveLength(0);
  });
});
