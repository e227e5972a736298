import { readFileSync } from "node:fs";
import { inflateRawSync } from "node:zlib";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Element } from "@xmldom/xmldom";
import Koa from "koa";
import type { Clock, IdGenerator } from "../clock.js";
import { cryptoIdGenerator, systemClock } from "../clock.js";
import { escapeHtml, renderPage } from "../http/html.js";
import { NS, attribute, childElements, parseXml, pemBody, textOf } from "../saml/xml.js";
import {
  ENTRA_ATTRIBUTES,
  buildSignedResponse,
  entraResponseFields,
  type SignaturePlacement,
} from "./saml-response-builder.js";

/**
 * A development SAML identity provider that issues Entra-shaped responses for a few made-up
 * users. DEVELOPMENT ONLY: it signs whatever user is picked, with a key published in this
 * repository, and must never be reachable from a network users rely on.
 */

/** Tenant ID of the demo IdP (made up); the demo OpenID provider uses the same one. */
export const DEMO_TENANT_ID = "6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c";

const CERTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../certs");

/** A test user of the demo IdP. */
export interface DemoUser {
  key: string;
  label: string;
  objectId: string;
  upn: string;
  displayName: string;
  givenName: string;
  surname: string;
  groups: string[];
  roles: string[];
}

export const DEMO_USERS: DemoUser[] = [
  {
    key: "alice",
    label: "Dr. Alice Nguyen, Cardiology",
    objectId: "a1111111-1111-4111-8111-111111111111",
    upn: "alice.nguyen@demo-health.example",
    displayName: "Dr. Alice Nguyen",
    givenName: "Alice",
    surname: "Nguyen",
    groups: ["6b1c0000-0000-4000-8000-0000000ca4d1", "6b1c0000-0000-4000-8000-00000000c1a1"],
    roles: ["Physician"],
  },
  {
    key: "bob",
    label: "Bob Patel, Nursing",
    objectId: "b2222222-2222-4222-8222-222222222222",
    upn: "bob.patel@demo-health.example",
    displayName: "Bob Patel",
    givenName: "Bob",
    surname: "Patel",
    groups: ["6b1c0000-0000-4000-8000-00000000a125"],
    roles: ["Nurse"],
  },
  {
    key: "carol",
    label: "Carol Smith, IT admin",
    objectId: "c3333333-3333-4333-8333-333333333333",
    upn: "carol.smith@demo-health.example",
    displayName: "Carol Smith",
    givenName: "Carol",
    surname: "Smith",
    groups: ["6b1c0000-0000-4000-8000-0000000000a7"],
    roles: ["Admin"],
  },
];

/** Options of {@link createDemoSamlIdp}. */
export interface DemoSamlIdpOptions {
  /** Public URL of the demo IdP itself, without a trailing slash. */
  idpBaseUrl: string;
  /** The one service provider it serves. */
  spEntityId: string;
  acsUrl: string;
  spSloUrl?: string;
  signingKey?: string;
  signingCert?: string;
  placement?: SignaturePlacement;
  algorithm?: "sha256" | "sha1";
  clock?: Clock;
  ids?: IdGenerator;
}

/** Entra's attributes for a demo user. */
export function demoUserAttributes(user: DemoUser): Record<string, string | string[]> {
  return {
    [ENTRA_ATTRIBUTES.tenantId]: DEMO_TENANT_ID,
    [ENTRA_ATTRIBUTES.objectId]: user.objectId,
    [ENTRA_ATTRIBUTES.email]: user.upn,
    [ENTRA_ATTRIBUTES.name]: user.upn,
    [ENTRA_ATTRIBUTES.displayName]: user.displayName,
    [ENTRA_ATTRIBUTES.givenName]: user.givenName,
    [ENTRA_ATTRIBUTES.surname]: user.surname,
    [ENTRA_ATTRIBUTES.groups]: user.groups,
    [ENTRA_ATTRIBUTES.role]: user.roles,
    [ENTRA_ATTRIBUTES.authnMethods]:
      "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password",
  };
}

/** Builds the IdP metadata document (entity ID, SSO and SLO endpoints, signing cert). */
export function demoIdpMetadata(idpBaseUrl: string, signingCert: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sts.windows.net/${DEMO_TENANT_ID}/">
  <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>${pemBody(signingCert)}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${idpBaseUrl}/saml2/logout"/>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${idpBaseUrl}/saml2"/>
  </IDPSSODescriptor>
</EntityDescriptor>
`;
}

const BANNER = `<p class="banner"><strong>Development identity provider.</strong> It signs in anyone who clicks a name, with a key published in the source code. Never use it for real users.</p>`;

function page(title: string, body: string): string {
  return renderPage(`${title} (development IdP)`, `<div class="card">${body}${BANNER}</div>`, {
    siteName: "Demo Health",
    tagline: "SAML identity provider for development",
    variant: "idp",
  });
}

async function readBody(ctx: Koa.Context): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > 64 * 1024) ctx.throw(413, "form too large");
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

/** Creates the development IdP: a Koa app and its metadata XML. */
export function createDemoSamlIdp(options: DemoSamlIdpOptions): { app: Koa; metadataXml: string } {
  const key =
    options.signingKey ?? readFileSync(path.join(CERTS_DIR, "demo-idp-signing.key"), "utf8");
  const cert =
    options.signingCert ?? readFileSync(path.join(CERTS_DIR, "demo-idp-signing.crt"), "utf8");
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? cryptoIdGenerator;
  const metadataXml = demoIdpMetadata(options.idpBaseUrl, cert);
  const app = new Koa();

  const pickerPage = (inResponseTo: string, relayState: string) =>
    page(
      "Choose a test user",
      `<h1 id="picker-heading">Choose a test user</h1>
<p class="lead">${inResponseTo ? "The application asked you to sign in. Pick the user to sign in as." : "IdP-initiated sign-in: no application asked for it, so the response answers no request."}</p>
<form method="post" action="${escapeHtml(options.idpBaseUrl)}/saml2/choose">
<input type="hidden" name="inResponseTo" value="${escapeHtml(inResponseTo)}">
<input type="hidden" name="relayState" value="${escapeHtml(relayState)}">
<ul class="connections" aria-labelledby="picker-heading">
${DEMO_USERS.map((user) => `<li><button type="submit" class="choice" name="user" value="${user.key}"><span class="choice-name">${escapeHtml(user.label)}<span class="choice-detail">${escapeHtml(user.upn)}</span></span><span class="badge">${escapeHtml(user.roles.join(", "))}</span></button></li>`).join("\n")}
</ul>
</form>`,
    );

  app.use(async (ctx) => {
    ctx.set("Cache-Control", "no-store");
    if (ctx.method === "GET" && ctx.path === "/metadata") {
      ctx.type = "application/samlmetadata+xml";
      ctx.body = metadataXml;
      return;
    }
    if (ctx.method === "GET" && ctx.path === "/saml2") {
      const encoded = typeof ctx.query.SAMLRequest === "string" ? ctx.query.SAMLRequest : "";
      const request = parseXml(inflateRawSync(Buffer.from(encoded, "base64")).toString("utf8"))
        .documentElement as Element;
      const issuer = textOf(childElements(request, NS.assertion, "Issuer")[0]);
      const acs = attribute(request, "AssertionConsumerServiceURL");
      if (issuer !== options.spEntityId || (acs !== undefined && acs !== options.acsUrl)) {
        ctx.status = 400;
        ctx.type = "html";
        ctx.body = page(
          "Unknown service provider",
          `<h1>Unknown service provider</h1><p>This development IdP serves only ${escapeHtml(options.spEntityId)}.</p>`,
        );
        return;
      }
      ctx.type = "html";
      ctx.body = pickerPage(
        attribute(request, "ID") ?? "",
        typeof ctx.query.RelayState === "string" ? ctx.query.RelayState : "",
      );
      return;
    }
    if (ctx.method === "GET" && ctx.path === "/idp-initiated") {
      ctx.type = "html";
      ctx.body = pickerPage("", "");
      return;
    }
    if (ctx.method === "POST" && ctx.path === "/saml2/choose") {
      const form = await readBody(ctx);
      const user = DEMO_USERS.find((candidate) => candidate.key === form.get("user"));
      if (!user) {
        ctx.status = 400;
        ctx.body = "unknown user";
        return;
      }
      const inResponseTo = form.get("inResponseTo") ?? "";
      const fields = entraResponseFields({
        now: clock.now(),
        tenantId: DEMO_TENANT_ID,
        acsUrl: options.acsUrl,
        spEntityId: options.spEntityId,
        nameId: user.objectId,
        attributes: demoUserAttributes(user),
        responseId: `_${ids.randomId()}`,
        assertionId: `_${ids.randomId()}`,
        ...(inResponseTo ? { inResponseTo } : {}),
      });
      const xml = buildSignedResponse(
        fields,
        { key, cert, algorithm: options.algorithm ?? "sha256" },
        options.placement ?? "assertion",
      );
      const relayState = form.get("relayState") ?? "";
      ctx.type = "html";
      ctx.set(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action *",
      );
      ctx.body = page(
        "Sending the response",
        `<h1>Signing in as ${escapeHtml(user.label)}</h1>
<p class="lead">Sending the SAML response to the application.</p>
<form id="saml-post" method="post" action="${escapeHtml(options.acsUrl)}">
<input type="hidden" name="SAMLResponse" value="${Buffer.from(xml, "utf8").toString("base64")}">
${relayState ? `<input type="hidden" name="RelayState" value="${escapeHtml(relayState)}">` : ""}
<noscript><button type="submit" class="primary">Continue to the application</button></noscript>
</form>
<script>document.getElementById("saml-post").submit();</script>`,
      );
      return;
    }
    if (ctx.method === "GET" && ctx.path === "/saml2/logout") {
      ctx.type = "html";
      ctx.body = page(
        "Signed out",
        `<h1>Signed out</h1><p>The development IdP keeps no sessions, so there is nothing more to end.</p>`,
      );
      return;
    }
    ctx.status = 404;
    ctx.body = "not found";
  });
  return { app, metadataXml };
}
