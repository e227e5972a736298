/**
 * A development SMART on FHIR EHR on loopback: a page that launches an app for a demo patient,
 * `/fhir/.well-known/smart-configuration`, and an authorization server whose token responses
 * carry patient, encounter and an ID token with `fhirUser`. Like Epic, the ID token issuer is
 * the OAuth base (`/oauth2`), not the FHIR base. Never for production: it approves every
 * request of its one registered client without asking anyone.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair, type JWK } from "jose";
import { escapeHtml, renderPage } from "../http/html.js";

/** Options of {@link startDemoSmartEhr}. */
export interface DemoSmartEhrOptions {
  port?: number;
  host?: string;
  /** Redirect URIs registered for the app. */
  redirectUris: string[];
  /** The app's launch URL, e.g. http://127.0.0.1:3000/smart/demo-ehr/launch */
  launchUrl?: string;
  clientId?: string;
  /** Omit for a public client (PKCE only). */
  clientSecret?: string;
  /** Current time in milliseconds. Tests pass their fake clock. */
  now?: () => number;
  accessTokenLifetimeSeconds?: number;
}

/** A running demo EHR. */
export interface DemoSmartEhr {
  /** FHIR base URL: the `iss` of launches. */
  issuer: string;
  /** OAuth base URL: the ID token issuer. */
  oauthIssuer: string;
  clientId: string;
  /** URL that makes the EHR launch the app for `patient` (a 302 to the app's launch URL). */
  launchUrlFor(patient: string): string;
  /** Number of HTTP requests the EHR received. */
  requestCount(): number;
  stop(): Promise<void>;
}

interface DemoPatient {
  id: string;
  name: string;
  encounter: string;
}

const PATIENTS: readonly DemoPatient[] = [
  { id: "erXuFYUfucBZaryVksYEcMg3", name: "Camila Lopez", encounter: "enc-1001" },
  { id: "eq081-VQEgP8drUUqCWzHfw3", name: "Derrick Lin", encounter: "enc-1002" },
];
const PRACTITIONER = "Practitioner/demo-clinician-1";
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "::1", "localhost"]);

interface Grant {
  redirectUri: string;
  codeChallenge: string;
  scope: string;
  nonce?: string;
  patient: DemoPatient;
}

function token(): string {
  return randomBytes(24).toString("base64url");
}

async function readBody(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

/** Starts the demo EHR on a loopback address. */
export async function startDemoSmartEhr(options: DemoSmartEhrOptions): Promise<DemoSmartEhr> {
  const host = options.host ?? "127.0.0.1";
  if (!LOOPBACK_HOSTS.has(host)) {
    throw new Error(
      `Invalid host ${host}: the demo EHR listens on loopback only. Use 127.0.0.1, ::1 or localhost.`,
    );
  }
  const clientId = options.clientId ?? "demo-smart-app";
  const now = options.now ?? (() => Date.now());
  const lifetime = options.accessTokenLifetimeSeconds ?? 3600;
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const publicJwk: JWK = {
    ...(await exportJWK(publicKey)),
    kid: "demo-ehr-1",
    use: "sig",
    alg: "RS256",
  };
  const launches = new Map<string, DemoPatient>();
  const codes = new Map<string, Grant>();
  const refreshTokens = new Map<string, Grant>();
  let requests = 0;

  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const base = `http://${host.includes(":") ? `[${host}]` : host}:${(server.address() as AddressInfo).port}`;
  const fhirBase = `${base}/fhir`;
  const oauthBase = `${base}/oauth2`;

  const json = (body: unknown, status = 200) => ({
    status,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
      pragma: "no-cache",
    },
    body: JSON.stringify(body),
  });
  const clientAuthenticated = (req: IncomingMessage, form: URLSearchParams): boolean => {
    if (!options.clientSecret) return form.get("client_id") === clientId;
    const [scheme, encoded] = (req.headers.authorization ?? "").split(" ");
    if (scheme !== "Basic" || !encoded) return false;
    const [user, password] = Buffer.from(encoded, "base64").toString("utf8").split(":");
    return (
      decodeURIComponent(user ?? "") === clientId &&
      decodeURIComponent(password ?? "") === options.clientSecret
    );
  };
  const tokenResponse = async (grant: Grant) => {
    const nowSeconds = Math.floor(now() / 1000);
    const refreshToken = token();
    refreshTokens.set(refreshToken, grant);
    const body: Record<string, unknown> = {
      access_token: token(),
      token_type: "Bearer",
      expires_in: lifetime,
      scope: grant.scope,
      refresh_token: refreshToken,
      patient: grant.patient.id,
      encounter: grant.patient.encounter,
      need_patient_banner: false,
      smart_style_url: `${base}/smart-style.json`,
      tenant: "demo-org",
    };
    if (grant.scope.split(" ").includes("openid")) {
      body.id_token = await new SignJWT({
        fhirUser: `${fhirBase}/${PRACTITIONER}`,
        preferred_username: "DEMOCLIN",
        ...(grant.nonce ? { nonce: grant.nonce } : {}),
      })
        .setProtectedHeader({ alg: "RS256", kid: publicJwk.kid as string, typ: "JWT" })
        .setIssuer(oauthBase)
        .setAudience(clientId)
        .setSubject("demo-clinician-1")
        .setIssuedAt(nowSeconds)
        .setExpirationTime(nowSeconds + 300)
        .sign(privateKey);
    }
    return json(body);
  };

  const handle = async (req: IncomingMessage) => {
    const url = new URL(req.url ?? "/", base);
    const path = url.pathname;
    if (path === "/fhir/.well-known/smart-configuration") {
      return json({
        issuer: oauthBase,
        jwks_uri: `${oauthBase}/keys`,
        authorization_endpoint: `${oauthBase}/authorize`,
        token_endpoint: `${oauthBase}/token`,
        grant_types_supported: ["authorization_code", "refresh_token"],
        token_endpoint_auth_methods_supported: ["client_secret_basic", "none"],
        scopes_supported: [
          "openid",
          "fhirUser",
          "launch",
          "launch/patient",
          "patient/*.rs",
          "offline_access",
        ],
        response_types_supported: ["code"],
        code_challenge_methods_supported: ["S256"],
        capabilities: [
          "launch-ehr",
          "launch-standalone",
          "client-public",
          "client-confidential-symmetric",
          "sso-openid-connect",
          "context-ehr-patient",
          "context-ehr-encounter",
          "context-standalone-patient",
          "permission-offline",
        ],
      });
    }
    if (path === "/oauth2/keys") return json({ keys: [publicJwk] });
    if (path === "/ehr/launch") {
      const patient = PATIENTS.find(
        (candidate) => candidate.id === url.searchParams.get("patient"),
      );
      if (!patient || !options.launchUrl)
        return json({ error: "unknown patient or no launchUrl" }, 400);
      const launch = token();
      launches.set(launch, patient);
      const target = new URL(options.launchUrl);
      target.searchParams.set("iss", fhirBase);
      target.searchParams.set("launch", launch);
      return { status: 302, headers: { location: target.href }, body: "" };
    }
    if (path === "/" || path === "/ehr") {
      const items = PATIENTS.map(
        (patient) =>
          `<li><a class="connection" href="/ehr/launch?patient=${encodeURIComponent(patient.id)}"><span class="choice-name">Launch the app for ${escapeHtml(patient.name)}<span class="choice-detail">Patient ${escapeHtml(patient.id)}, encounter ${escapeHtml(patient.encounter)}</span></span><span class="badge">SMART launch</span></a></li>`,
      ).join("\n");
      const body = `<div class="card">
<h1 id="patients-heading">Patients</h1>
<p class="lead">Launch the app from a patient's chart, as a clinician does in the EHR.</p>
<ul class="connections" aria-labelledby="patients-heading">
${items}
</ul>
<p class="banner"><strong>Development EHR.</strong> It approves every request of its one app without asking anyone. Never use it for real patients.</p>
</div>`;
      return {
        status: 200,
        headers: { "content-type": "text/html; charset=utf-8" },
        body: renderPage("Demo EHR", body, {
          siteName: "Demo EHR",
          tagline: "SMART on FHIR EHR for development",
          variant: "idp",
        }),
      };
    }
    if (path === "/oauth2/authorize") {
      const params = url.searchParams;
      const redirectUri = params.get("redirect_uri") ?? "";
      if (params.get("client_id") !== clientId || !options.redirectUris.includes(redirectUri)) {
        return json({ error: "invalid_client" }, 400);
      }
      const back = new URL(redirectUri);
      back.searchParams.set("state", params.get("state") ?? "");
      const reject = (error: string) => {
        back.searchParams.set("error", error);
        return { status: 302, headers: { location: back.href }, body: "" };
      };
      if (params.get("response_type") !== "code") return reject("unsupported_response_type");
      if (params.get("code_challenge_method") !== "S256" || !params.get("code_challenge"))
        return reject("invalid_request");
      if (params.get("aud")?.replace(/\/+$/, "") !== fhirBase) return reject("invalid_request");
      const launch = params.get("launch");
      const patient = launch ? launches.get(launch) : PATIENTS[0];
      if (launch) launches.delete(launch);
      if (!patient) return reject("invalid_request");
      const code = token();
      codes.set(code, {
        redirectUri,
        codeChallenge: params.get("code_challenge") as string,
        scope: params.get("scope") ?? "",
        ...(params.get("nonce") ? { nonce: params.get("nonce") as string } : {}),
        patient,
      });
      back.searchParams.set("code", code);
      return { status: 302, headers: { location: back.href }, body: "" };
    }
    if (path === "/oauth2/token" && req.method === "POST") {
      const form = await readBody(req);
      if (!clientAuthenticated(req, form)) return json({ error: "invalid_client" }, 401);
      if (form.get("grant_type") === "refresh_token") {
        const grant = refreshTokens.get(form.get("refresh_token") ?? "");
        if (!grant) return json({ error: "invalid_grant" }, 400);
        refreshTokens.delete(form.get("refresh_token") ?? "");
        return tokenResponse({ ...grant, nonce: undefined } as Grant);
      }
      const grant = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      const challenge = createHash("sha256")
        .update(form.get("code_verifier") ?? "")
        .digest("base64url");
      if (
        !grant ||
        grant.redirectUri !== form.get("redirect_uri") ||
        grant.codeChallenge !== challenge
      ) {
        return json({ error: "invalid_grant" }, 400);
      }
      return tokenResponse(grant);
    }
    return { status: 404, headers: { "content-type": "text/plain" }, body: "not found" };
  };

  server.on("request", (req, res) => {
    requests += 1;
    handle(req)
      .then(({ status, headers, body }) => {
        res.writeHead(status, headers);
        res.end(body);
      })
      .catch(() => {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end("internal error");
      });
  });

  return {
    issuer: fhirBase,
    oauthIssuer: oauthBase,
    clientId,
    launchUrlFor: (patient) => `${base}/ehr/launch?patient=${encodeURIComponent(patient)}`,
    requestCount: () => requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Patient IDs the demo EHR can launch for. */
export const DEMO_SMART_PATIENTS = PATIENTS.map((patient) => patient.id);
