import { createVerify } from "node:crypto";
import { inflateRawSync } from "node:zlib";
import { afterEach, describe, expect, it } from "@jest/globals";
import {
  ACS_URL,
  IDP_SSO_URL,
  SP_ENTITY_ID,
  SamlHarness,
  certFile,
} from "../support/saml-harness.js";

function decodeRequest(location: URL): string {
  return inflateRawSync(
    Buffer.from(location.searchParams.get("SAMLRequest") ?? "", "base64"),
  ).toString("utf8");
}

describe("AuthnRequest", () => {
  let harness: SamlHarness;
  afterEach(async () => {
    await harness.close();
  });

  it("carries issuer, ACS URL and NameIDPolicy", async () => {
    harness = await SamlHarness.start();
    const { location, requestId } = await harness.login();
    expect(`${location.origin}${location.pathname}`).toBe(IDP_SSO_URL);
    const xml = decodeRequest(location);
    expect(requestId).toMatch(/^_[A-Za-z0-9_-]+$/);
    expect(requestId).not.toMatch(/^[0-9]/);
    expect(xml).toContain(`<saml:Issuer>${SP_ENTITY_ID}</saml:Issuer>`);
    expect(xml).toContain(`AssertionConsumerServiceURL="${ACS_URL}"`);
    expect(xml).toContain(`IssueInstant="${new Date(harness.clock.now()).toISOString()}"`);
    expect(xml).toContain('Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"');
    expect(xml).not.toContain("RequestedAuthnContext");
    expect(xml).not.toContain("ForceAuthn");
    expect(location.searchParams.get("RelayState")).toBe(requestId);
    expect(location.searchParams.has("Signature")).toBe(false);
  });

  it("is signed with RSA-SHA256 when sp.signingKey is set", async () => {
    harness = await SamlHarness.start({
      forceAuthn: true,
      sp: { signingKey: "certs/test-sp-signing.key", signingCert: "certs/test-sp-signing.crt" },
    });
    const { location } = await harness.login();
    expect(location.searchParams.get("SigAlg")).toBe(
      "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    );
    expect(decodeRequest(location)).toContain('ForceAuthn="true"');
    const raw = location.search.slice(1);
    const signedPart = raw.slice(0, raw.indexOf("&Signature="));
    const signature = Buffer.from(location.searchParams.get("Signature") ?? "", "base64");
    const verifier = createVerify("RSA-SHA256");
    verifier.update(signedPart);
    expect(verifier.verify(certFile("test-sp-signing.crt"), signature)).toBe(true);
    const other = createVerify("RSA-SHA256");
    other.update(signedPart);
    expect(other.verify(certFile("test-untrusted-signing.crt"), signature)).toBe(false);
  });

  it("sets a Secure SameSite=None binding cookie on the connection path", async () => {
    harness = await SamlHarness.start();
    const res = await harness.http().get("/saml/entra/login?returnTo=/");
    const cookies = ([] as string[]).concat(res.headers["set-cookie"] ?? []);
    const binding = cookies.find((line) => line.startsWith("fs_saml_entra="));
    expect(binding).toBeDefined();
    expect(binding).toMatch(/; path=\/saml\/entra\//);
    expect(binding).toMatch(/; samesite=none/);
    expect(binding).toMatch(/; secure/);
    expect(binding).toMatch(/; httponly/);
    expect(cookies.some((line) => line.startsWith("fs_saml_entra.sig="))).toBe(true);
  });
});
