// Benchmark child: runs the sign-in service on 127.0.0.1 and serves the driver's commands
// (CPU time, heap, and the raw-library baselines measured in this same kind of process).
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SAML, ValidateInResponseTo } from "@node-saml/node-saml";
import * as oidc from "openid-client";
import { createApp } from "../dist/http/create-sign-in.js";
import { parseConfig } from "../dist/config/load.js";
import { closeSamlValidationPools } from "../dist/saml/worker-pool.js";
import { cpuMicros, serveCommands } from "./lib.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SESSION_KEY = "bench-session-key-0123456789abcdefghijklmnop";
export const SAML_CONNECTION = "bench-saml";
export const OIDC_CONNECTION = "bench-oidc";
export const IDP_ENTITY_ID = "https://sts.windows.net/6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c/";

let handler = (_request, response) => {
  response.statusCode = 503;
  response.end();
};
const server = http.createServer((request, response) => handler(request, response));
server.keepAliveTimeout = 30_000;
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const port = server.address().port;
const baseUrl = `http://127.0.0.1:${port}`;
let signIn;

function samlConnection() {
  return {
    id: SAML_CONNECTION,
    type: "saml",
    idp: {
      entityId: IDP_ENTITY_ID,
      ssoUrl: "https://idp.example.test/saml2",
      certificates: ["certs/demo-idp-signing.crt"],
    },
    claims: "entra",
  };
}

function oidcConnection(provider) {
  return {
    id: OIDC_CONNECTION,
    type: "oidc",
    issuer: provider.issuer,
    clientId: provider.clientId,
    clientSecret: provider.clientSecret,
    claims: "entra",
  };
}

/** Node-saml configured as the service configures it, used alone as the SAML baseline. */
function rawSamlVerifier() {
  return new SAML({
    callbackUrl: `${baseUrl}/saml/${SAML_CONNECTION}/acs`,
    entryPoint: "https://idp.example.test/saml2",
    issuer: `${baseUrl}/saml/${SAML_CONNECTION}/metadata`,
    audience: `${baseUrl}/saml/${SAML_CONNECTION}/metadata`,
    idpCert: fs.readFileSync(path.join(REPO_ROOT, "certs/demo-idp-signing.crt"), "utf8"),
    wantAssertionsSigned: false,
    wantAuthnResponseSigned: false,
    acceptedClockSkewMs: 0,
    validateInResponseTo: ValidateInResponseTo.never,
  });
}

let rawOidc;
/** Number of repeated sign-ins so far, so every call writes new keys. */
let repeatedSignIns = 0;

serveCommands({
  /** Builds the service: `connection` is "saml" or "oidc"; `store` is "memory" or "redis". */
  async configure({ connection, store, workers, provider, maxEntries }) {
    const storeConfig =
      store === "redis"
        ? { type: "redis", url: "redis://127.0.0.1:6379", prefix: `fs-bench-${process.pid}:` }
        : { type: "memory", ...(maxEntries ? { maxEntries } : {}) };
    const config = parseConfig(
      {
        baseUrl,
        logLevel: "silent",
        audit: { sink: "none" },
        session: { keys: [SESSION_KEY], store: storeConfig },
        workers: { saml: workers },
        connections: [connection === "oidc" ? oidcConnection(provider) : samlConnection()],
      },
      { configDir: REPO_ROOT, env: {} },
    );
    const { app, signIn: created } = await createApp(config);
    signIn = created;
    handler = app.callback();
    return { baseUrl };
  },
  cpu: () => cpuMicros(),
  heap({ collect }) {
    if (collect) {
      globalThis.gc();
      globalThis.gc();
    }
    return process.memoryUsage().heapUsed;
  },
  /** Validates each response with node-saml alone; returns the CPU time it took. */
  async rawSaml({ responses }) {
    const verifier = rawSamlVerifier();
    const start = cpuMicros();
    let accepted = 0;
    for (const samlResponse of responses) {
      const { profile } = await verifier.validatePostResponseAsync({ SAMLResponse: samlResponse });
      if (profile) accepted += 1;
    }
    return { cpuMicros: cpuMicros() - start, accepted };
  },
  /** Discovers the provider with openid-client alone and prepares `count` authorization URLs. */
  async rawOidcPrepare({ provider, count }) {
    const config = await oidc.discovery(
      new URL(provider.issuer),
      provider.clientId,
      provider.clientSecret,
      oidc.ClientSecretBasic(provider.clientSecret),
      { execute: [oidc.allowInsecureRequests] },
    );
    const redirectUri = `${baseUrl}/oidc/${OIDC_CONNECTION}/callback`;
    const flows = [];
    for (let i = 0; i < count; i += 1) {
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: "openid profile email",
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: "S256",
        state,
        nonce,
      });
      flows.push({ codeVerifier, state, nonce, url: url.href });
    }
    rawOidc = { config, flows };
    return flows.map((flow) => flow.url);
  },
  /** Redeems each callback URL with authorizationCodeGrant; returns the CPU time it took. */
  async rawOidcGrant({ callbackUrls }) {
    const start = cpuMicros();
    let accepted = 0;
    for (const [index, callbackUrl] of callbackUrls.entries()) {
      const flow = rawOidc.flows[index];
      const tokens = await oidc.authorizationCodeGrant(rawOidc.config, new URL(callbackUrl), {
        pkceCodeVerifier: flow.codeVerifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
      });
      if (tokens.claims()?.sub) accepted += 1;
    }
    return { cpuMicros: cpuMicros() - start, accepted };
  },
  /**
   * Repeats the store writes of one sign-in `count` times with copies of a real session record:
   * the session and the assertion ID in the replay cache. Used for the 100k sign-in memory run,
   * where full SAML sign-ins would take too long.
   */
  async repeatSignInWrites({ count }) {
    const store = signIn.services.store;
    const entries = store.entries;
    let sessionKey;
    for (const key of entries.keys()) if (key.startsWith("sess:")) sessionKey = key;
    if (!sessionKey) throw new Error("no session in the store; sign in first");
    const record = entries.get(sessionKey).value;
    const ttlMs = 8 * 3_600_000;
    const startedAt = performance.now();
    let rejected = 0;
    for (let i = 0; i < count; i += 1) {
      // Yield now and then, so a SIGTERM or a lost parent can stop this loop.
      if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
      repeatedSignIns += 1;
      const suffix = `${process.pid}-${repeatedSignIns}`;
      try {
        await store.set(
          `sess:bench-${suffix}`,
          record.replace('"createdAt"', `"n":${i},"createdAt"`),
          ttlMs,
        );
        await store.add(`saml:${SAML_CONNECTION}:assertion:_bench${suffix}`, "1", 3_600_000);
      } catch (error) {
        // A full memory store rejects new sessions and replay markers (STORE_UNAVAILABLE).
        if (error?.code !== "STORE_UNAVAILABLE") throw error;
        rejected += 1;
      }
    }
    return {
      storeSize: store.size,
      rejected,
      microsPerSignIn: ((performance.now() - startedAt) * 1000) / count,
    };
  },
  async close() {
    await signIn?.close();
    await closeSamlValidationPools();
    return true;
  },
});

process.send({ type: "ready", port, baseUrl });
