import { describe, it, expect, beforeAll, afterAll } from "@jest/globals";
import { DOMParser, type Document, type Element } from "@xmldom/xmldom";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { deflateRawSync } from "node:zlib";
import {
  DEFAULT_SIMPLESAMLPHP_USERS,
  ENTRA_CLAIMS,
  simpleSamlPhpUnavailableReason,
  startSimpleSamlPhp,
  type SimpleSamlPhpIdp,
} from "./simplesamlphp.js";

const execFileAsync = promisify(execFile);

const NS = {
  samlp: "urn:oasis:names:tc:SAML:2.0:protocol",
  saml: "urn:oasis:names:tc:SAML:2.0:assertion",
  md: "urn:oasis:names:tc:SAML:2.0:metadata",
  ds: "http://www.w3.org/2000/09/xmldsig#",
} as const;
const BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const ATTRNAME_FORMAT_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
const STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success";
const RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256";

// Without CI set, a missing php, SimpleSAMLphp or xmlsec1 skips this suite with a warning. With
// CI set, the suite runs and fails instead, because CI installs them (test/peers/install-peers.sh).
const unavailableReason =
  simpleSamlPhpUnavailableReason() ??
  (existsSync("/usr/bin/xmlsec1") ? null : "xmlsec1 is not installed (/usr/bin/xmlsec1 not found)");
const skipSuite = unavailableReason !== null && !process.env.CI;
if (skipSuite) {
  console.warn(`Skipping SimpleSAMLphp peer tests: ${unavailableReason}`);
}
const describePeer = skipSuite ? describe.skip : describe;

const alice = DEFAULT_SIMPLESAMLPHP_USERS.find((user) => user.username === "alice")!;

/** Static SP: its metadata on 127.0.0.1, its ACS URL on localhost (another site, as with Entra). */
interface StaticSp {
  server: Server;
  metadataUrl: string;
  entityId: string;
  acsUrl: string;
}

async function startStaticSp(): Promise<StaticSp> {
  let metadata = "";
  const server = createServer((request, response) => {
    if (request.method === "GET" && request.url === "/saml/ssp/metadata") {
      response.writeHead(200, { "content-type": "application/samlmetadata+xml" });
      response.end(metadata);
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const entityId = `http://localhost:${port}/saml/ssp`;
  const acsUrl = `http://localhost:${port}/saml/ssp/acs`;
  metadata = `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="${NS.md}" entityID="${entityId}">
  <md:SPSSODescriptor protocolSupportEnumeration="${NS.samlp}" AuthnRequestsSigned="false" WantAssertionsSigned="true">
    <md:NameIDFormat>${NAMEID_PERSISTENT}</md:NameIDFormat>
    <md:AssertionConsumerService index="0" isDefault="true" Binding="${BINDING_POST}" Location="${acsUrl}"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
`;
  return { server, metadataUrl: `http://127.0.0.1:${port}/saml/ssp/metadata`, entityId, acsUrl };
}

async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function parseXml(xml: string): Document {
  return new DOMParser().parseFromString(xml, "text/xml");
}

/** Child elements of parent with the given namespace and local name (direct children only). */
function childElements(parent: Element | Document, ns: string, localName: string): Element[] {
  const result: Element[] = [];
  for (let node = parent.firstChild; node !== null; node = node.nextSibling) {
    const element = node as Element;
    if (node.nodeType === 1 && element.namespaceURI === ns && element.localName === localName) {
      result.push(element);
    }
  }
  return result;
}

function onlyChild(parent: Element | Document, ns: string, localName: string): Element {
  const children = childElements(parent, ns, localName);
  if (children.length !== 1) {
    throw new Error(`Expected one ${localName} element, found ${children.length}`);
  }
  return children[0]!;
}

function buildAuthnRequest(args: {
  id: string;
  issuer: string;
  destination: string;
  acsUrl: string;
}): string {
  return (
    `<samlp:AuthnRequest xmlns:samlp="${NS.samlp}" xmlns:saml="${NS.saml}" ID="${args.id}" ` +
    `Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${args.destination}" ` +
    `AssertionConsumerServiceURL="${args.acsUrl}" ProtocolBinding="${BINDING_POST}">` +
    `<saml:Issuer>${args.issuer}</saml:Issuer>` +
    `<samlp:NameIDPolicy Format="${NAMEID_PERSISTENT}" AllowCreate="true"/>` +
    `</samlp:AuthnRequest>`
  );
}

/** HTTP-Redirect binding: deflate-raw, base64, then URL-encode as the SAMLRequest parameter. */
function redirectBindingUrl(ssoUrl: string, authnRequest: string, relayState: string): string {
  const url = new URL(ssoUrl);
  url.searchParams.set("SAMLRequest", deflateRawSync(Buffer.from(authnRequest)).toString("base64"));
  url.searchParams.set("RelayState", relayState);
  return url.href;
}

/** Minimal cookie jar for one host: name to value, plus every raw Set-Cookie header seen. */
class CookieJar {
  private readonly values = new Map<string, string>();
  readonly setCookieHeaders: string[] = [];

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      this.setCookieHeaders.push(header);
      const pair = header.split(";", 1)[0] ?? "";
      const separator = pair.indexOf("=");
      const name = pair.slice(0, separator).trim();
      const value = pair.slice(separator + 1).trim();
      if (/;\s*max-age=0/i.test(header) || value === "deleted") {
        this.values.delete(name);
      } else {
        this.values.set(name, value);
      }
    }
  }

  header(): string {
    return [...this.values].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

interface Page {
  url: string;
  status: number;
  body: string;
}

/** Sends one request with the jar's cookies and follows redirects (303 and 302 become GET). */
async function browse(
  jar: CookieJar,
  url: string,
  init: { method?: string; form?: Record<string, string> } = {},
): Promise<Page> {
  let method = init.method ?? "GET";
  let body: string | undefined = init.form ? new URLSearchParams(init.form).toString() : undefined;
  let current = url;
  for (let hop = 0; hop < 10; hop += 1) {
    const headers: Record<string, string> = { cookie: jar.header() };
    if (body !== undefined) {
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
    const response = await fetch(current, { method, headers, body, redirect: "manual" });
    jar.store(response);
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location !== null) {
      current = new URL(location, current).href;
      method = "GET";
      body = undefined;
      continue;
    }
    return { url: current, status: response.status, body: await response.text() };
  }
  throw new Error(`Too many redirects starting at ${url}`);
}

function decodeHtmlEntities(text: string): string {
  const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, code: string) => {
    if (code.startsWith("#x") || code.startsWith("#X")) {
      return String.fromCodePoint(parseInt(code.slice(2), 16));
    }
    if (code.startsWith("#")) {
      return String.fromCodePoint(parseInt(code.slice(1), 10));
    }
    return named[code.toLowerCase()] ?? entity;
  });
}

function htmlAttributes(tag: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const match of tag.matchAll(/([a-zA-Z_:-]+)\s*=\s*"([^"]*)"/g)) {
    attributes[match[1]!.toLowerCase()] = decodeHtmlEntities(match[2]!);
  }
  return attributes;
}

interface HtmlForm {
  action: string;
  method: string;
  fields: Record<string, string>;
}

/** Extracts the forms of an HTML page with the names and values of their input elements. */
function parseForms(html: string, pageUrl: string): HtmlForm[] {
  const forms: HtmlForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const formAttributes = htmlAttributes(match[1]!);
    const fields: Record<string, string> = {};
    for (const input of match[2]!.matchAll(/<input\b([^>]*)>/gi)) {
      const attributes = htmlAttributes(input[1]!);
      if (attributes.name !== undefined) {
        fields[attributes.name] = attributes.value ?? "";
      }
    }
    forms.push({
      action: new URL(formAttributes.action ?? "", pageUrl).href,
      method: (formAttributes.method ?? "get").toLowerCase(),
      fields,
    });
  }
  return forms;
}

interface LoginResult {
  jar: CookieJar;
  loginPage: Page;
  finalPage: Page;
  /** The auto-submit form that carries SAMLResponse, or undefined when the IdP sent none. */
  responseForm: HtmlForm | undefined;
}

/** Starts a login at the IdP with an HTTP-Redirect AuthnRequest and submits the login form. */
async function login(args: {
  idp: SimpleSamlPhpIdp;
  issuer: string;
  acsUrl: string;
  requestId: string;
  relayState: string;
  username: string;
  password: string;
}): Promise<LoginResult> {
  const jar = new CookieJar();
  const authnRequest = buildAuthnRequest({
    id: args.requestId,
    issuer: args.issuer,
    destination: args.idp.ssoUrl,
    acsUrl: args.acsUrl,
  });
  const loginPage = await browse(
    jar,
    redirectBindingUrl(args.idp.ssoUrl, authnRequest, args.relayState),
  );
  const loginForm = parseForms(loginPage.body, loginPage.url).find(
    (form) => "password" in form.fields,
  );
  if (loginForm === undefined) {
    return { jar, loginPage, finalPage: loginPage, responseForm: undefined };
  }
  const finalPage = await browse(jar, loginForm.action, {
    method: "POST",
    form: { ...loginForm.fields, username: args.username, password: args.password },
  });
  const responseForm = parseForms(finalPage.body, finalPage.url).find(
    (form) => "SAMLResponse" in form.fields,
  );
  return { jar, loginPage, finalPage, responseForm };
}

/** Runs xmlsec1 --verify on xml and returns whether the signature on the element is valid. */
async function verifyWithXmlsec1(args: {
  xml: string;
  idAttributeNode: string;
  certificatePath: string;
}): Promise<{ valid: boolean; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), "xmlsec1-verify-"));
  try {
    const file = join(dir, "message.xml");
    await writeFile(file, args.xml);
    const { stdout, stderr } = await execFileAsync("xmlsec1", [
      "--verify",
      "--id-attr:ID",
      args.idAttributeNode,
      "--pubkey-cert-pem",
      args.certificatePath,
      file,
    ]);
    return { valid: true, output: `${stdout}${stderr}` };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string };
    return { valid: false, output: `${failure.stdout ?? ""}${failure.stderr ?? ""}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function generateUnrelatedCertificate(dir: string): Promise<string> {
  const certificatePath = join(dir, "unrelated.crt");
  await execFileAsync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=unrelated",
    "-keyout",
    join(dir, "unrelated.key"),
    "-out",
    certificatePath,
  ]);
  return certificatePath;
}

function attributeValues(
  assertion: Element,
): Map<string, { nameFormat: string; values: string[] }> {
  const result = new Map<string, { nameFormat: string; values: string[] }>();
  const statement = onlyChild(assertion, NS.saml, "AttributeStatement");
  for (const attribute of childElements(statement, NS.saml, "Attribute")) {
    result.set(attribute.getAttribute("Name") ?? "", {
      nameFormat: attribute.getAttribute("NameFormat") ?? "",
      values: childElements(attribute, NS.saml, "AttributeValue").map(
        (value) => value.textContent ?? "",
      ),
    });
  }
  return result;
}

function newRequestId(): string {
  return `_${randomBytes(16).toString("hex")}`;
}

describePeer("SimpleSAMLphp IdP harness", () => {
  let sp: StaticSp;
  let idp: SimpleSamlPhpIdp;
  let scratchDir: string;

  beforeAll(async () => {
    sp = await startStaticSp();
    idp = await startSimpleSamlPhp({ spMetadataUrl: sp.metadataUrl });
    scratchDir = await mkdtemp(join(tmpdir(), "simplesamlphp-test-"));
  }, 60_000);

  afterAll(async () => {
    await idp?.stop();
    if (sp) {
      await closeServer(sp.server);
    }
    if (scratchDir) {
      await rm(scratchDir, { recursive: true, force: true });
    }
  });

  it("serves metadata with signing certificate", async () => {
    const response = await fetch(idp.metadataUrl);
    expect(response.status).toBe(200);
    const metadata = parseXml(await response.text());
    const entity = onlyChild(metadata, NS.md, "EntityDescriptor");
    expect(entity.getAttribute("entityID")).toBe(idp.entityId);

    const idpDescriptor = onlyChild(entity, NS.md, "IDPSSODescriptor");
    const redirectSso = childElements(idpDescriptor, NS.md, "SingleSignOnService").find(
      (service) => service.getAttribute("Binding") === BINDING_REDIRECT,
    );
    expect(redirectSso?.getAttribute("Location")).toBe(idp.ssoUrl);

    const certificates = [...metadata.getElementsByTagNameNS(NS.ds, "X509Certificate")].map(
      (element) => (element.textContent ?? "").replace(/\s+/g, ""),
    );
    const harnessCertificate = idp.certificatePem
      .replace(/-----(BEGIN|END) CERTIFICATE-----/g, "")
      .replace(/\s+/g, "");
    expect(certificates).toContain(harnessCertificate);
  });

  it("reads SP entity ID from metadata", () => {
    expect(idp.spEntityId).toBe(sp.entityId);
  });

  it("logs alice in with signed assertion", async () => {
    const requestId = newRequestId();
    const result = await login({
      idp,
      issuer: sp.entityId,
      acsUrl: sp.acsUrl,
      requestId,
      relayState: "relay-state-123",
      username: "alice",
      password: "alice-password",
    });
    if (result.responseForm === undefined) {
      throw new Error(
        `No SAMLResponse form after login (HTTP ${result.finalPage.status} at ${result.finalPage.url}). IdP logs:\n${await idp.readLogs()}`,
      );
    }
    const form = result.responseForm;
    expect(form.method).toBe("post");
    expect(form.action).toBe(sp.acsUrl);
    expect(form.fields.RelayState).toBe("relay-state-123");

    const encoded = form.fields.SAMLResponse ?? "";
    expect(encoded).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    const xml = Buffer.from(encoded, "base64").toString("utf8");
    const document = parseXml(xml);

    const response = onlyChild(document, NS.samlp, "Response");
    expect(response.getAttribute("Destination")).toBe(sp.acsUrl);
    expect(response.getAttribute("InResponseTo")).toBe(requestId);
    const status = onlyChild(onlyChild(response, NS.samlp, "Status"), NS.samlp, "StatusCode");
    expect(status.getAttribute("Value")).toBe(STATUS_SUCCESS);
    expect(onlyChild(response, NS.saml, "Issuer").textContent).toBe(idp.entityId);
    // Default signing mode: the Assertion is signed and the Response is not.
    expect(childElements(response, NS.ds, "Signature")).toHaveLength(0);

    const assertion = onlyChild(response, NS.saml, "Assertion");
    expect(onlyChild(assertion, NS.saml, "Issuer").textContent).toBe(idp.entityId);
    const signature = onlyChild(assertion, NS.ds, "Signature");
    const signedInfo = onlyChild(signature, NS.ds, "SignedInfo");
    expect(onlyChild(signedInfo, NS.ds, "SignatureMethod").getAttribute("Algorithm")).toBe(
      RSA_SHA256,
    );
    const reference = onlyChild(signedInfo, NS.ds, "Reference");
    expect(reference.getAttribute("URI")).toBe(`#${assertion.getAttribute("ID")}`);
    expect(onlyChild(reference, NS.ds, "DigestMethod").getAttribute("Algorithm")).toBe(SHA256);

    const subject = onlyChild(assertion, NS.saml, "Subject");
    const nameId = onlyChild(subject, NS.saml, "NameID");
    expect(nameId.getAttribute("Format")).toBe(NAMEID_PERSISTENT);
    expect(nameId.textContent).toBe(alice.nameId);
    const confirmationData = onlyChild(
      onlyChild(subject, NS.saml, "SubjectConfirmation"),
      NS.saml,
      "SubjectConfirmationData",
    );
    expect(confirmationData.getAttribute("Recipient")).toBe(sp.acsUrl);
    expect(confirmationData.getAttribute("InResponseTo")).toBe(requestId);

    const conditions = onlyChild(assertion, NS.saml, "Conditions");
    const audience = onlyChild(
      onlyChild(conditions, NS.saml, "AudienceRestriction"),
      NS.saml,
      "Audience",
    );
    expect(audience.textContent).toBe(sp.entityId);

    const attributes = attributeValues(assertion);
    expect([...attributes.keys()].sort()).toEqual(Object.keys(alice.attributes).sort());
    for (const [name, expectedValues] of Object.entries(alice.attributes)) {
      expect({ name, ...attributes.get(name) }).toEqual({
        name,
        nameFormat: ATTRNAME_FORMAT_URI,
        values: expectedValues,
      });
    }
    expect(attributes.get(ENTRA_CLAIMS.groups)?.values).toHaveLength(2);

    const verified = await verifyWithXmlsec1({
      xml,
      idAttributeNode: `${NS.saml}:Assertion`,
      certificatePath: idp.certificatePath,
    });
    expect(verified).toEqual({ valid: true, output: expect.stringContaining("OK") });

    const unrelatedCertificate = await generateUnrelatedCertificate(scratchDir);
    const rejected = await verifyWithXmlsec1({
      xml,
      idAttributeNode: `${NS.saml}:Assertion`,
      certificatePath: unrelatedCertificate,
    });
    expect(rejected.valid).toBe(false);

    const tampered = xml.replace(alice.nameId, "pairwise-mallory");
    expect(tampered).not.toBe(xml);
    const tamperedResult = await verifyWithXmlsec1({
      xml: tampered,
      idAttributeNode: `${NS.saml}:Assertion`,
      certificatePath: idp.certificatePath,
    });
    expect(tamperedResult.valid).toBe(false);
  });

  it("sets session cookies usable over plain http", async () => {
    const result = await login({
      idp,
      issuer: sp.entityId,
      acsUrl: sp.acsUrl,
      requestId: newRequestId(),
      relayState: "cookies",
      username: "bob",
      password: "bob-password",
    });
    expect(result.responseForm).toBeDefined();
    // With store.type phpsession the session cookie is the PHP session cookie, named by
    // session.phpsession.cookiename.
    const sessionCookie = result.jar.setCookieHeaders.find((header) =>
      header.startsWith("SimpleSAML="),
    );
    expect(sessionCookie).toBeDefined();
    expect(result.jar.setCookieHeaders.length).toBeGreaterThan(0);
    for (const header of result.jar.setCookieHeaders) {
      expect(header).not.toMatch(/;\s*secure/i);
      expect(header).toMatch(/;\s*samesite=lax/i);
    }
  });

  it("shows login form on wrong password", async () => {
    const result = await login({
      idp,
      issuer: sp.entityId,
      acsUrl: sp.acsUrl,
      requestId: newRequestId(),
      relayState: "wrong-password",
      username: "alice",
      password: "not-alice-password",
    });
    expect(result.loginPage.status).toBe(200);
    expect(result.responseForm).toBeUndefined();
    const retryForm = parseForms(result.finalPage.body, result.finalPage.url).find(
      (form) => "password" in form.fields,
    );
    expect(retryForm).toBeDefined();
  });

  it("rejects AuthnRequest from unknown SP", async () => {
    const unknownIssuer = "http://localhost:9/saml/unknown";
    const result = await login({
      idp,
      issuer: unknownIssuer,
      acsUrl: "http://localhost:9/saml/unknown/acs",
      requestId: newRequestId(),
      relayState: "unknown-sp",
      username: "alice",
      password: "alice-password",
    });
    // SimpleSAMLphp 1.19 renders its error page with HTTP 200.
    expect(result.responseForm).toBeUndefined();
    expect(result.loginPage.body).toContain("METADATANOTFOUND");
    expect(result.loginPage.body).toContain(unknownIssuer);
  });

  it("fails on a port already in use", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = blocker.address() as AddressInfo;
      await expect(startSimpleSamlPhp({ spMetadataUrl: sp.metadataUrl, port })).rejects.toThrow(
        /address already in use/,
      );
    } finally {
      // The harness's readiness request stays open on the blocker, which never responds.
      blocker.closeAllConnections();
      await closeServer(blocker);
    }
  });

  it("rejects non-loopback SP metadata URL", async () => {
    await expect(
      startSimpleSamlPhp({ spMetadataUrl: "http://192.0.2.10/saml/ssp/metadata" }),
    ).rejects.toThrow(/Invalid spMetadataUrl/);
  });
});

describePeer("SimpleSAMLphp IdP harness with signResponse", () => {
  let sp: StaticSp;
  let idp: SimpleSamlPhpIdp;

  beforeAll(async () => {
    sp = await startStaticSp();
    idp = await startSimpleSamlPhp({
      spMetadataUrl: sp.metadataUrl,
      signAssertion: false,
      signResponse: true,
    });
  }, 60_000);

  afterAll(async () => {
    await idp?.stop();
    if (sp) {
      await closeServer(sp.server);
    }
  });

  it("signs Response but not Assertion", async () => {
    const result = await login({
      idp,
      issuer: sp.entityId,
      acsUrl: sp.acsUrl,
      requestId: newRequestId(),
      relayState: "signed-response",
      username: "alice",
      password: "alice-password",
    });
    if (result.responseForm === undefined) {
      throw new Error(`No SAMLResponse form after login. IdP logs:\n${await idp.readLogs()}`);
    }
    const xml = Buffer.from(result.responseForm.fields.SAMLResponse ?? "", "base64").toString(
      "utf8",
    );
    const response = onlyChild(parseXml(xml), NS.samlp, "Response");
    expect(childElements(response, NS.ds, "Signature")).toHaveLength(1);
    const assertion = onlyChild(response, NS.saml, "Assertion");
    expect(childElements(assertion, NS.ds, "Signature")).toHaveLength(0);

    const verified = await verifyWithXmlsec1({
      xml,
      idAttributeNode: `${NS.samlp}:Response`,
      certificatePath: idp.certificatePath,
    });
    expect(verified).toEqual({ valid: true, output: expect.stringContaining("OK") });
  });
});

describePeer("SimpleSAMLphp IdP harness stop", () => {
  it("stops server and removes folder", async () => {
    const sp = await startStaticSp();
    try {
      const idp = await startSimpleSamlPhp({ spMetadataUrl: sp.metadataUrl });
      const rootDir = dirname(dirname(idp.certificatePath));
      expect(existsSync(rootDir)).toBe(true);
      await idp.stop();
      expect(existsSync(rootDir)).toBe(false);
      await expect(fetch(idp.metadataUrl)).rejects.toThrow();
      await idp.stop();
    } finally {
      await closeServer(sp.server);
    }
  }, 60_000);
});
