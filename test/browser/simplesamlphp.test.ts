/**
 * Signs in through SimpleSAMLphp (Debian's package, an independent SAML IdP) in headless
 * Chromium: our sign-in page on http://localhost:<port>, SimpleSAMLphp's login form on
 * http://127.0.0.1:<other port>, and the cross-site POST of its response back to our ACS.
 *
 * Each side reads the other's metadata at start, so the start order matters. See "Start order"
 * in docs/browser-tests.md and {@link startServiceTrustedBySimpleSamlPhp}.
 */
import { afterAll, beforeAll, expect, it } from "@jest/globals";
import { DOMParser, type Element } from "@xmldom/xmldom";
import type { Server } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { parseConfig } from "../../src/config/load.js";
import { createApp, type SignIn } from "../../src/http/create-sign-in.js";
import { createLogger } from "../../src/logger.js";
import {
  DEFAULT_SIMPLESAMLPHP_USERS,
  ENTRA_CLAIMS,
  startSimpleSamlPhp,
  type SimpleSamlPhpIdp,
} from "../peers/simplesamlphp.js";
import {
  describeWithBrowser,
  launchChromium,
  newPage,
  openSession,
  pickFreePort,
} from "./browser-support.js";

const describeBrowser = describeWithBrowser("SimpleSAMLphp sign-in", { needsPhp: true });

const CERTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../certs");
const CONNECTION_ID = "ssp";
const BINDING_COOKIE = `fs_saml_${CONNECTION_ID}`;
const NS_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_ASSERTION = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_DSIG = "http://www.w3.org/2000/09/xmldsig#";

const alice = DEFAULT_SIMPLESAMLPHP_USERS.find((user) => user.username === "alice")!;

/** Returns the first value of alice's attribute `name`. */
function aliceAttribute(name: string): string {
  const value = alice.attributes[name]?.[0];
  if (value === undefined) throw new Error(`alice has no attribute ${name}`);
  return value;
}

/** Our service on localhost, listening on 127.0.0.1. */
interface RunningService {
  baseUrl: string;
  server: Server;
  signIn: SignIn;
  stop(): Promise<void>;
}

/** Builds a config with one SAML connection that signs its AuthnRequests with the test SP key. */
function serviceConfig(baseUrl: string, port: number, idp: Record<string, unknown>) {
  return parseConfig({
    baseUrl,
    listen: { host: "127.0.0.1", port },
    logLevel: "silent",
    audit: { sink: "none" },
    session: { keys: ["browser-test-session-key-0123456789abcdefghijklmnop"] },
    connections: [
      {
        id: CONNECTION_ID,
        type: "saml",
        name: "SimpleSAMLphp",
        idp,
        sp: {
          signingKey: path.join(CERTS_DIR, "test-sp-signing.key"),
          signingCert: path.join(CERTS_DIR, "test-sp-signing.crt"),
        },
        claims: "entra",
      },
    ],
  });
}

async function startService(
  baseUrl: string,
  port: number,
  idp: Record<string, unknown>,
): Promise<RunningService> {
  const config = serviceConfig(baseUrl, port, idp);
  const { app, signIn } = await createApp(config, { logger: createLogger("silent") });
  const server = app.listen(port, "127.0.0.1");
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("listening", resolve);
      server.once("error", reject);
    });
  } catch (error) {
    await signIn.close();
    throw error;
  }
  return {
    baseUrl,
    server,
    signIn,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await signIn.close();
    },
  };
}

/**
 * Starts SimpleSAMLphp and our service so that each trusts the other by metadata:
 *
 * 1. A first instance of our service starts on a fixed port with a placeholder IdP (entity ID,
 *    SSO URL and certificate given inline), because the SP metadata does not depend on the IdP.
 * 2. SimpleSAMLphp starts and reads our `/saml/ssp/metadata` from that instance.
 * 3. The first instance stops, and the real one starts on the same port with
 *    `idp.metadataUrl` set to SimpleSAMLphp's metadata URL.
 *
 * The SP metadata of both instances must be identical, or SimpleSAMLphp would trust an SP that
 * is no longer there.
 */
async function startServiceTrustedBySimpleSamlPhp(signing: {
  signAssertion: boolean;
  signResponse: boolean;
}): Promise<{ service: RunningService; idp: SimpleSamlPhpIdp; metadataSeenByIdp: string }> {
  const port = await pickFreePort();
  const baseUrl = `http://localhost:${port}`;
  const metadataUrl = `${baseUrl}/saml/${CONNECTION_ID}/metadata`;

  const placeholder = await startService(baseUrl, port, {
    entityId: "urn:federated-signin:test:placeholder-idp",
    ssoUrl: "http://127.0.0.1:9/placeholder-sso",
    certificates: [path.join(CERTS_DIR, "demo-idp-signing.crt")],
  });
  let idp: SimpleSamlPhpIdp;
  let metadataSeenByIdp: string;
  try {
    metadataSeenByIdp = await (await fetch(metadataUrl)).text();
    idp = await startSimpleSamlPhp({ spMetadataUrl: metadataUrl, ...signing });
  } finally {
    await placeholder.stop();
  }

  try {
    const service = await startService(baseUrl, port, { metadataUrl: idp.metadataUrl });
    return { service, idp, metadataSeenByIdp };
  } catch (error) {
    await idp.stop();
    throw error;
  }
}

/** Tells which elements of a SAML response carry an enveloped signature. */
function signaturePlacement(samlResponseBase64: string): { response: boolean; assertion: boolean } {
  const xml = Buffer.from(samlResponseBase64, "base64").toString("utf8");
  const root = new DOMParser().parseFromString(xml, "text/xml").documentElement as Element;
  const hasSignatureChild = (element: Element | undefined) =>
    element !== undefined &&
    Array.from(element.childNodes).some(
      (node) =>
        (node as Element).namespaceURI === NS_DSIG && (node as Element).localName === "Signature",
    );
  const assertion = Array.from(root.childNodes).find(
    (node) =>
      (node as Element).namespaceURI === NS_ASSERTION &&
      (node as Element).localName === "Assertion",
  ) as Element | undefined;
  expect(root.namespaceURI).toBe(NS_PROTOCOL);
  expect(assertion).toBeDefined();
  return { response: hasSignatureChild(root), assertion: hasSignatureChild(assertion) };
}

const SIGNING_MODES = [
  { title: "assertion signed", signAssertion: true, signResponse: false },
  { title: "response and assertion signed", signAssertion: true, signResponse: true },
] as const;

describeBrowser.each(SIGNING_MODES)("SimpleSAMLphp sign-in in Chromium, $title", (mode) => {
  let browser: Browser;
  let service: RunningService;
  let idp: SimpleSamlPhpIdp;
  let metadataSeenByIdp: string;

  beforeAll(async () => {
    browser = await launchChromium();
    ({ service, idp, metadataSeenByIdp } = await startServiceTrustedBySimpleSamlPhp({
      signAssertion: mode.signAssertion,
      signResponse: mode.signResponse,
    }));
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await idp?.stop();
    await browser?.close();
  });

  it("serves the SP metadata that SimpleSAMLphp read", async () => {
    const served = await (await fetch(`${service.baseUrl}/saml/${CONNECTION_ID}/metadata`)).text();
    expect(served).toBe(metadataSeenByIdp);
    expect(idp.spEntityId).toBe(`${service.baseUrl}/saml/${CONNECTION_ID}/metadata`);
  });

  it("signs in alice with the login form", async () => {
    const { context, page } = await newPage(browser);
    try {
      const returnTo = "/?after=simplesamlphp";
      await page.goto(`${service.baseUrl}/?returnTo=${encodeURIComponent(returnTo)}`);
      await page.getByRole("link", { name: /Sign in with SimpleSAMLphp/ }).click();

      // SimpleSAMLphp checked our signed AuthnRequest and shows its own login form.
      await page.waitForURL(`${idp.baseUrl}/**`);
      await page.locator('input[name="username"]').fill(alice.username);
      await page.locator('input[name="password"]').fill(alice.password);
      const acsPost = page.waitForRequest(
        (request) =>
          request.method() === "POST" &&
          request.url() === `${service.baseUrl}/saml/${CONNECTION_ID}/acs`,
      );
      await page.locator('form [type="submit"]').first().click();

      // SimpleSAMLphp's auto-submitting form posts the response across sites to our ACS.
      const acsRequest = await acsPost;
      await page.waitForURL(`${service.baseUrl}${returnTo}`).catch(async (error: unknown) => {
        throw new Error(
          `${String(error)}\nPage at ${page.url()}: ${(await page.locator("main, body").first().innerText()).slice(0, 1500)}\n${await idp.readLogs()}`,
        );
      });
      const acsHeaders = await acsRequest.allHeaders();
      expect(acsHeaders["sec-fetch-site"]).toBe("cross-site");
      expect(acsHeaders["cookie"] ?? "").toContain(`${BINDING_COOKIE}=`);
      const form = new URLSearchParams(acsRequest.postData() ?? "");
      expect(signaturePlacement(form.get("SAMLResponse") ?? "")).toEqual({
        response: mode.signResponse,
        assertion: mode.signAssertion,
      });

      await expect(page.locator("#signed-in-user").textContent()).resolves.toBe("Alice Example");
      const session = await openSession(page, service.baseUrl);
      expect(session.status).toBe(200);
      const identity = session.body.identity;
      const tenantId = aliceAttribute(ENTRA_CLAIMS.tenantId);
      const objectId = aliceAttribute(ENTRA_CLAIMS.objectId);
      expect(identity?.id).toBe(`entra:${tenantId}:${objectId}`);
      expect(identity?.protocol).toBe("saml");
      expect(identity?.issuer).toBe(idp.entityId);
      expect(identity?.subject).toBe(alice.nameId);
      expect(identity?.email).toBe(aliceAttribute(ENTRA_CLAIMS.email));
      expect(identity?.groups).toEqual(alice.attributes[ENTRA_CLAIMS.groups]);
      expect(identity?.roles).toEqual(["Editor", "Viewer"]);
    } finally {
      await context.close();
    }
  });
});
