import type { SamlSettings } from "./settings.js";
import { escapeXml, pemBody } from "./xml.js";

const POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

function keyDescriptor(use: "signing" | "encryption", pem: string): string {
  const encryptionMethods =
    use === "encryption"
      ? [
          "http://www.w3.org/2009/xmlenc11#aes256-gcm",
          "http://www.w3.org/2009/xmlenc11#aes128-gcm",
          "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
          "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        ]
          .map((algorithm) => `\n      <md:EncryptionMethod Algorithm="${algorithm}"/>`)
          .join("")
      : "";
  return `
    <md:KeyDescriptor use="${use}">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>${pemBody(pem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>${encryptionMethods}
    </md:KeyDescriptor>`;
}

/**
 * Builds the SP metadata document: entity ID, ACS (HTTP-POST), single logout (HTTP-Redirect
 * and HTTP-POST), NameID format and the signing and encryption certificates when configured.
 * During an SP key rollover both the current and the next signing certificate are listed.
 * Entra's "Upload metadata file" reads the entity ID and the ACS URL from it.
 */
export function buildSpMetadata(settings: SamlSettings): string {
  const keys = [
    settings.spSigningCert ? keyDescriptor("signing", settings.spSigningCert) : "",
    settings.spNextSigningCert ? keyDescriptor("signing", settings.spNextSigningCert) : "",
    settings.spDecryptionCert ? keyDescriptor("encryption", settings.spDecryptionCert) : "",
  ].join("");
  const slo = escapeXml(settings.sloUrl);
  return `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${escapeXml(settings.spEntityId)}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="${settings.spSigningKey ? "true" : "false"}" WantAssertionsSigned="true">${keys}
    <md:SingleLogoutService Binding="${REDIRECT_BINDING}" Location="${slo}"/>
    <md:SingleLogoutService Binding="${POST_BINDING}" Location="${slo}"/>
    <md:NameIDFormat>${escapeXml(settings.nameIdFormat)}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="${POST_BINDING}" Location="${escapeXml(settings.acsUrl)}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
`;
}
