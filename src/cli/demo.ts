import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Server } from "node:http";
import { parseConfig } from "../config/load.js";
import { createDemoSamlIdp } from "../demo/saml-idp.js";
import { startDemoOidcProvider } from "../demo/oidc-provider.js";
import { startDemoSmartEhr } from "../demo/smart-ehr.js";
import { createApp } from "../http/create-sign-in.js";
import { createLogger } from "../logger.js";
import { serve } from "./serve.js";

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Port of the service on localhost; the demo IdPs listen on the next three ports. */
  port: number;
}

/** A running demo: the service and its development identity providers. */
export interface RunningDemo {
  baseUrl: string;
  samlIdpUrl: string;
  oidcIssuer: string;
  smartEhrUrl: string;
  stop(): Promise<void>;
}

const LOOPBACK = "127.0.0.1";

async function listen(app: { listen: (port: number, host: string) => Server }, port: number) {
  const server = app.listen(port, LOOPBACK);
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  return server;
}

/**
 * Starts the demo identity providers on 127.0.0.1 and the service on localhost, so the IdPs
 * and the service are different sites and the IdP's POST to the ACS is cross-site, as it is
 * with Entra ID. Session keys are random for each run.
 */
export async function startDemo(options: DemoOptions & { quiet?: boolean }): Promise<RunningDemo> {
  const port = options.port;
  const baseUrl = `http://localhost:${port}`;
  const samlIdpUrl = `http://${LOOPBACK}:${port + 1}`;

  const samlIdp = createDemoSamlIdp({
    idpBaseUrl: samlIdpUrl,
    spEntityId: `${baseUrl}/saml/demo-saml/metadata`,
    acsUrl: `${baseUrl}/saml/demo-saml/acs`,
    spSloUrl: `${baseUrl}/saml/demo-saml/slo`,
  });
  const samlServer = await listen(samlIdp.app, port + 1);
  const oidc = await startDemoOidcProvider({
    port: port + 2,
    host: LOOPBACK,
    redirectUris: [`${baseUrl}/oidc/demo-oidc/callback`],
    postLogoutRedirectUris: [`${baseUrl}/`],
  });
  const ehr = await startDemoSmartEhr({
    port: port + 3,
    host: LOOPBACK,
    redirectUris: [`${baseUrl}/smart/demo-smart/callback`],
    launchUrl: `${baseUrl}/smart/demo-smart/launch`,
  });

  const config = parseConfig({
    baseUrl,
    listen: { host: LOOPBACK, port },
    logLevel: options.quiet ? "silent" : "info",
    audit: { sink: options.quiet ? "none" : "stdout" },
    session: { keys: [randomBytes(32).toString("base64url")] },
    connections: [
      {
        id: "demo-saml",
        type: "saml",
        name: "Demo Health (SAML, Entra-shaped)",
        // The demo keeps its metadata copy out of the working folder.
        idp: {
          metadataUrl: `${samlIdpUrl}/metadata`,
          metadataCacheDir: path.join(tmpdir(), "federated-signin-demo"),
        },
        claims: "entra",
      },
      {
        id: "demo-oidc",
        type: "oidc",
        name: "Demo Health (OpenID Connect, Entra-shaped)",
        issuer: oidc.issuer,
        clientId: oidc.clientId,
        clientSecret: oidc.clientSecret,
        claims: "entra",
      },
      {
        id: "demo-smart",
        type: "smart",
        name: "Demo EHR (SMART on FHIR standalone launch)",
        fhirServers: [ehr.issuer],
        clientId: ehr.clientId,
        scopes: ["launch", "launch/patient", "openid", "fhirUser", "offline_access"],
      },
    ],
  });
  const logger = createLogger(config.logLevel);
  const { app, signIn } = await createApp(config, { logger });
  const server = await serve(app, signIn, config.listen, logger);

  if (!options.quiet) {
    process.stdout.write(
      [
        "",
        "federated-signin demo (development only: the demo IdPs sign with public keys)",
        "",
        `  Sign in:            ${baseUrl}/`,
        `  Session as JSON:    ${baseUrl}/session`,
        `  Demo SAML IdP:      ${samlIdpUrl}/metadata`,
        `  Demo OpenID issuer: ${oidc.issuer}`,
        `  Demo SMART EHR:     ${ehr.issuer.replace(/\/fhir$/, "")}/  (launch the app for a patient)`,
        "",
        "Press Ctrl+C to stop.",
        "",
      ].join("\n"),
    );
  }

  return {
    baseUrl,
    samlIdpUrl,
    oidcIssuer: oidc.issuer,
    smartEhrUrl: ehr.issuer,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await signIn.close();
      await new Promise<void>((resolve) => samlServer.close(() => resolve()));
      await oidc.stop();
      await ehr.stop();
    },
  };
}

/** Runs the demo until the process is stopped. */
export async function runDemo(options: DemoOptions): Promise<void> {
  await startDemo(options);
}
