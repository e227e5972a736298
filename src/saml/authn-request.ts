import type { Clock, IdGenerator } from "../clock.js";
import { buildRedirectUrl } from "./redirect-binding.js";
import type { SamlSettings } from "./settings.js";
import { escapeXml, samlInstant } from "./xml.js";

/**
 * Returns a new SAML message ID. IDs are xs:ID values, which must not start with a digit (Entra
 * rejects such an AuthnRequest), so every ID starts with "_".
 */
export function newMessageId(ids: IdGenerator): string {
  return `_${ids.randomId()}`;
}

/**
 * Builds an AuthnRequest for the HTTP-Redirect binding. It requests the response by HTTP-POST at
 * our ACS URL and sends no RequestedAuthnContext, because Entra fails with AADSTS75011 when
 * the requested context differs from how the user signed in.
 */
export function buildAuthnRequestXml(settings: SamlSettings, id: string, clock: Clock): string {
  const forceAuthn = settings.forceAuthn ? ' ForceAuthn="true"' : "";
  return (
    `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"` +
    ` ID="${escapeXml(id)}" Version="2.0" IssueInstant="${samlInstant(clock.now())}"` +
    ` Destination="${escapeXml(settings.idpSsoUrl)}"` +
    ` AssertionConsumerServiceURL="${escapeXml(settings.acsUrl)}"` +
    ` ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"${forceAuthn}>` +
    `<saml:Issuer>${escapeXml(settings.spEntityId)}</saml:Issuer>` +
    `<samlp:NameIDPolicy Format="${escapeXml(settings.nameIdFormat)}" AllowCreate="true"/>` +
    `</samlp:AuthnRequest>`
  );
}

/** Returns the IdP URL that carries the AuthnRequest, signed when sp.signingKey is set. */
export function buildAuthnRequestUrl(
  settings: SamlSettings,
  id: string,
  relayState: string,
  clock: Clock,
): string {
  const xml = buildAuthnRequestXml(settings, id, clock);
  const options: { relayState: string; signingKey?: string } = { relayState };
  if (settings.spSigningKey) options.signingKey = settings.spSigningKey;
  return buildRedirectUrl(settings.idpSsoUrl, "SAMLRequest", xml, options);
}
