import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO_ROOT } from "./saml-harness.js";

const SIGNATURE_TEMPLATE = (id: string) =>
  `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
  `<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>` +
  `<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>` +
  `<ds:Reference URI="#${id}"><ds:Transforms>` +
  `<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>` +
  `<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>` +
  `<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>` +
  `</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>`;

/**
 * Signs an assertion with the xmlsec1 command-line tool (an implementation independent of
 * xml-crypto) using the demo IdP key. The Signature template goes right after the Issuer.
 */
export function signAssertionWithXmlsec1(assertionXml: string, assertionId: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "fs-saml-xmlsec-"));
  try {
    const template = assertionXml.replace(
      /(<Issuer>[^<]*<\/Issuer>)/,
      `$1${SIGNATURE_TEMPLATE(assertionId)}`,
    );
    if (template === assertionXml) throw new Error("test setup: no Issuer in the assertion");
    const input = path.join(dir, "template.xml");
    const output = path.join(dir, "signed.xml");
    writeFileSync(input, template);
    const key = path.join(REPO_ROOT, "certs", "demo-idp-signing.key");
    const cert = path.join(REPO_ROOT, "certs", "demo-idp-signing.crt");
    execFileSync("xmlsec1", [
      "--sign",
      "--privkey-pem",
      `${key},${cert}`,
      "--id-attr:ID",
      "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
      "--output",
      output,
      input,
    ]);
    return readFileSync(output, "utf8").replace(/^<\?xml[^>]*\?>\s*/, "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
