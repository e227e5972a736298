import type { SamlSettings } from "./settings.js";

/**
 * Fixes for the AADSTS error codes that Entra puts in a failed response's StatusMessage, built
 * from the connection's own URLs. Codes and meanings are from Microsoft's AADSTS error code
 * reference and its SAML protocol pages.
 */
const ENTRA_FIXES: Record<string, (settings: SamlSettings) => string> = {
  "50105": () =>
    "The user is not assigned to the Entra enterprise app. In the Entra admin center, open the enterprise app, go to Users and groups, and assign the user or one of their groups.",
  "50011": (s) =>
    `The reply URL does not match. In the Entra enterprise app, under Single sign-on > Basic SAML Configuration, set Reply URL (Assertion Consumer Service URL) to ${s.acsUrl}`,
  "700016": (s) =>
    `Entra has no app with this identifier in the tenant. In the Entra enterprise app, set Identifier (Entity ID) to ${s.spEntityId}, or check that the app exists in the tenant the metadata belongs to.`,
  "75011": () =>
    "The user signed in with a method other than the one requested. This service sends no RequestedAuthnContext; check Conditional Access policies and any proxy that rewrites the request.",
  "76021": () =>
    "The Entra app requires signed requests. Set sp.signingKey and sp.signingCert on the connection and upload the signing certificate under Verification certificates in the Entra app.",
  "50003": () =>
    "The Entra app has no active signing certificate. Under Single sign-on > SAML Certificates, create or activate a certificate.",
  "50146": () =>
    "The Entra app has no signing key configured. Under Single sign-on > SAML Certificates, create or activate a certificate.",
};

/** Extracts the AADSTS error codes from a StatusMessage, such as `AADSTS50105: ...`. */
export function aadstsCodes(statusMessage: string | undefined): string[] {
  if (!statusMessage) return [];
  return [...statusMessage.matchAll(/AADSTS(\d{5,7})/g)].map((match) => match[1] ?? "");
}

/** Returns the fix for the first known AADSTS code in `statusMessage`, if any. */
export function entraFix(
  statusMessage: string | undefined,
  settings: SamlSettings,
): string | undefined {
  for (const code of aadstsCodes(statusMessage)) {
    const fix = ENTRA_FIXES[code];
    if (fix) return `AADSTS${code}: ${fix(settings)}`;
  }
  return undefined;
}
