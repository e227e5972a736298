import { X509Certificate } from "node:crypto";
import type { Document, Element } from "@xmldom/xmldom";
import { getVerifiedXml } from "@node-saml/node-saml/lib/xml.js";
import { SAML, ValidateInResponseTo, type Profile } from "@node-saml/node-saml";
import { SignInError, type ErrorCode, type LogDetails } from "../errors.js";
import { checkResponseStructure, decodeResponse, samlError } from "./response-structure.js";
import type { SamlSettings } from "./settings.js";
import { readAssertionFields, type AssertionFields } from "./verified-assertion.js";
import {
  NS,
  attribute,
  childElements,
  descendants,
  parseInstant,
  pemBody,
  textOf,
  truncate,
} from "./xml.js";

/** A SAML response that passed every check except InResponseTo binding and replay. */
export interface ValidatedResponse {
  responseId?: string;
  assertionId: string;
  /** InResponseTo of the bearer confirmation (or of the Response); undefined when unsolicited. */
  inResponseTo?: string;
  issuer: string;
  fields: AssertionFields & { nameId: string };
  authnInstantMs: number;
  /** SessionNotOnOrAfter, milliseconds since the epoch. */
  sessionNotOnOrAfterMs?: number;
  /** Until when the assertion could pass the time checks (latest NotOnOrAfter plus skew). */
  rememberUntilMs: number;
  logDetails: LogDetails;
}

/** Creates the node-saml instance that verifies signatures and decrypts assertions. */
export function createSignatureVerifier(settings: SamlSettings): SAML {
  return new SAML({
    callbackUrl: settings.acsUrl,
    entryPoint: settings.idpSsoUrl,
    issuer: settings.spEntityId,
    audience: settings.spEntityId,
    idpCert: settings.idpCerts,
    // Either the Response or the assertion must be signed (node-saml requires the assertion
    // signature whenever the Response is unsigned).
    wantAssertionsSigned: false,
    wantAuthnResponseSigned: false,
    // node-saml reads Date.now(); -1 turns its time checks off, and checkTimes() below
    // applies them with the injected clock instead.
    acceptedClockSkewMs: -1,
    // InResponseTo is checked against the outstanding request of this browser in acs.ts.
    validateInResponseTo: ValidateInResponseTo.never,
    ...(settings.spDecryptionKey ? { decryptionPvk: settings.spDecryptionKey } : {}),
  });
}

/**
 * Tells whether every signature in the response names, in its KeyInfo, a certificate that the
 * connection trusts. False when a signature names another certificate or none, which is how a
 * response signed after an IdP key rollover looks. Also returns the SHA-256 fingerprint of the
 * first unknown certificate for the log. KeyInfo is read only for this hint, never for trust.
 */
function signingCertificateHint(
  doc: Document,
  trustedPems: readonly string[],
): { trusted: boolean; unknownFingerprint?: string } {
  const trusted = new Set(trustedPems.map(pemBody));
  const signatures = descendants(doc, NS.dsig, "Signature");
  let allTrusted = signatures.length > 0;
  for (const signature of signatures) {
    const certificates = descendants(signature, NS.dsig, "X509Certificate");
    if (certificates.length === 0) allTrusted = false;
    for (const element of certificates) {
      const body = (textOf(element) ?? "").replace(/\s+/g, "");
      if (trusted.has(body)) continue;
      try {
        const fingerprint = new X509Certificate(Buffer.from(body, "base64")).fingerprint256;
        return { trusted: false, unknownFingerprint: fingerprint };
      } catch {
        return { trusted: false };
      }
    }
  }
  return { trusted: allTrusted };
}

/**
 * Tells whether a validation failure may come from an IdP signing key that the connection does
 * not know yet, so a metadata refresh could fix it. The flag travels in the log details, which
 * survive the worker-thread boundary.
 */
export function isUnknownSigningKeyError(error: unknown): boolean {
  return (
    error instanceof SignInError &&
    error.code === "SAML_SIGNATURE_INVALID" &&
    error.logDetails.signingCertTrusted === false
  );
}

/** Maps a node-saml failure message to our code. */
function codeForVerifierError(message: string): ErrorCode {
  if (/audience|AudienceRestriction/i.test(message)) return "SAML_AUDIENCE_MISMATCH";
  if (/multiple assertions/i.test(message)) return "SAML_ASSERTION_COUNT";
  if (/decrypt|EncryptedAssertion/i.test(message)) return "SAML_DECRYPTION_FAILED";
  if (/multiple conditions/i.test(message)) return "SAML_MALFORMED";
  if (/is not a valid date/i.test(message)) return "SAML_MALFORMED";
  return "SAML_SIGNATURE_INVALID";
}

function checkTimes(
  settings: SamlSettings,
  nowMs: number,
  what: string,
  notBefore: string | undefined,
  notOnOrAfter: string | undefined,
  logDetails: LogDetails,
): void {
  const skew = settings.clockSkewMs;
  const notBeforeMs = parseInstant(notBefore);
  const notOnOrAfterMs = parseInstant(notOnOrAfter);
  if (
    (notBefore !== undefined && notBeforeMs === undefined) ||
    (notOnOrAfter !== undefined && notOnOrAfterMs === undefined)
  ) {
    throw samlError(
      settings,
      "SAML_MALFORMED",
      `The ${what} has an invalid time value.`,
      logDetails,
    );
  }
  if (notBeforeMs !== undefined && nowMs + skew < notBeforeMs) {
    throw samlError(
      settings,
      "SAML_NOT_YET_VALID",
      `The ${what} is not valid before ${notBefore}.`,
      {
        ...logDetails,
        notBefore,
        now: new Date(nowMs).toISOString(),
      },
    );
  }
  if (notOnOrAfterMs !== undefined && nowMs - skew >= notOnOrAfterMs) {
    throw samlError(settings, "SAML_EXPIRED", `The ${what} expired at ${notOnOrAfter}.`, {
      ...logDetails,
      notOnOrAfter,
      now: new Date(nowMs).toISOString(),
    });
  }
}

function checkIssuers(
  settings: SamlSettings,
  responseIssuer: string | undefined,
  fields: AssertionFields,
  logDetails: LogDetails,
): string {
  const fix = `Set idp.entityId (or the metadata) of connection ${settings.connectionId} to the IdP's entity ID; it is now ${settings.idpEntityId}.`;
  if (responseIssuer !== undefined && responseIssuer !== settings.idpEntityId) {
    throw samlError(
      settings,
      "SAML_ISSUER_MISMATCH",
      "The Response Issuer is not this connection's IdP.",
      { ...logDetails, responseIssuer: truncate(responseIssuer) },
      { fix },
    );
  }
  if (fields.issuer !== settings.idpEntityId) {
    throw samlError(
      settings,
      "SAML_ISSUER_MISMATCH",
      "The assertion Issuer is not this connection's IdP.",
      { ...logDetails, assertionIssuer: truncate(fields.issuer) },
      { fix },
    );
  }
  return fields.issuer;
}

function checkAudience(
  settings: SamlSettings,
  fields: AssertionFields,
  logDetails: LogDetails,
): void {
  const fits =
    fields.conditionsCount === 1 &&
    fields.audienceRestrictions.length > 0 &&
    fields.audienceRestrictions.every((audiences) => audiences.includes(settings.spEntityId));
  if (!fits) {
    throw samlError(
      settings,
      "SAML_AUDIENCE_MISMATCH",
      "The assertion is not addressed to this service provider.",
      { ...logDetails, audience: truncate(fields.audienceRestrictions.flat().join(" ")) },
      {
        fix: `Set Identifier (Entity ID) in the Entra enterprise app (or the audience in the IdP) to ${settings.spEntityId}`,
      },
    );
  }
}

/**
 * Verifies the Response's own signature when it has one, with the configured IdP certificates.
 * node-saml accepts a Response whose signature fails as long as the assertion's signature holds;
 * a signature that is present must verify. Returns true when the Response signature was verified.
 */
function verifyResponseSignature(
  settings: SamlSettings,
  xml: string,
  response: Element,
  logDetails: LogDetails,
): boolean {
  if (childElements(response, NS.dsig, "Signature").length === 0) return false;
  let verified: string | null;
  try {
    verified = getVerifiedXml(xml, response as never, settings.idpCerts);
  } catch (error) {
    throw samlError(
      settings,
      "SAML_SIGNATURE_INVALID",
      "The signature of the SAML Response is invalid.",
      { ...logDetails, reason: truncate((error as Error).message, 200) },
    );
  }
  if (!verified) {
    throw samlError(
      settings,
      "SAML_SIGNATURE_INVALID",
      "The signature of the SAML Response is invalid.",
      logDetails,
    );
  }
  return true;
}

/**
 * Validates a SAMLResponse form value: structure and algorithms first, then the signature with
 * the configured IdP certificates only (node-saml; KeyInfo in the message is ignored), then
 * issuer, Destination, Recipient, audience and time windows, read from the verified assertion.
 */
export async function validateResponse(
  settings: SamlSettings,
  verifier: SAML,
  samlResponse: string,
  nowMs: number,
): Promise<ValidatedResponse> {
  const { xml, doc } = decodeResponse(settings, samlResponse);
  const checked = await checkResponseStructure(settings, xml, doc);
  const response = checked.response;
  const responseIssuer = textOf(childElements(response, NS.assertion, "Issuer")[0]);
  const destination = attribute(response, "Destination");
  const logDetails: LogDetails = {
    responseId: truncate(checked.responseId, 80),
    inResponseTo: truncate(attribute(response, "InResponseTo"), 80),
    issuer: truncate(responseIssuer),
  };

  let profile: Profile | null;
  try {
    ({ profile } = await verifier.validatePostResponseAsync({ SAMLResponse: samlResponse }));
  } catch (error) {
    const message = (error as Error).message;
    const code = codeForVerifierError(message);
    const fix =
      code === "SAML_AUDIENCE_MISMATCH"
        ? {
            fix: `Set Identifier (Entity ID) in the Entra enterprise app (or the audience in the IdP) to ${settings.spEntityId}`,
          }
        : {};
    const details: LogDetails = { ...logDetails, reason: truncate(message, 200) };
    if (code === "SAML_SIGNATURE_INVALID") {
      const hint = signingCertificateHint(doc, settings.idpCerts);
      details.signingCertTrusted = hint.trusted;
      if (hint.unknownFingerprint) details.signingCertFingerprint = hint.unknownFingerprint;
    }
    throw samlError(
      settings,
      code,
      "The SAML response failed signature verification or decryption.",
      details,
      fix,
    );
  }
  const verifiedXml = profile?.getAssertionXml?.();
  if (!verifiedXml) {
    throw samlError(
      settings,
      "SAML_SIGNATURE_INVALID",
      "No signed assertion was found.",
      logDetails,
    );
  }
  const fields = readAssertionFields(verifiedXml);
  logDetails.assertionId = truncate(fields.id, 80);
  const responseSignatureVerified = verifyResponseSignature(settings, xml, response, logDetails);

  const issuer = checkIssuers(settings, responseIssuer, fields, logDetails);
  if (destination !== undefined && destination !== settings.acsUrl) {
    throw samlError(
      settings,
      "SAML_DESTINATION_MISMATCH",
      "The Response Destination is not this connection's ACS URL.",
      { ...logDetails, destination: truncate(destination) },
      {
        fix: `Set Reply URL (Assertion Consumer Service URL) in the Entra enterprise app (or the ACS URL in the IdP) to ${settings.acsUrl}`,
      },
    );
  }
  if (!fields.id || !fields.nameId) {
    throw samlError(
      settings,
      "SAML_SUBJECT_INVALID",
      "The assertion has no ID or no NameID.",
      logDetails,
    );
  }
  const bearer = fields.bearerConfirmations[0];
  if (fields.bearerConfirmations.length !== 1 || !bearer) {
    throw samlError(
      settings,
      "SAML_SUBJECT_INVALID",
      `The assertion has ${fields.bearerConfirmations.length} bearer SubjectConfirmations; exactly one is accepted.`,
      logDetails,
    );
  }
  if (bearer.recipient !== settings.acsUrl) {
    throw samlError(
      settings,
      "SAML_RECIPIENT_MISMATCH",
      "The SubjectConfirmationData Recipient is not this connection's ACS URL.",
      { ...logDetails, recipient: truncate(bearer.recipient) },
      {
        fix: `Set Reply URL (Assertion Consumer Service URL) in the Entra enterprise app (or the ACS URL in the IdP) to ${settings.acsUrl}`,
      },
    );
  }
  checkAudience(settings, fields, logDetails);
  if (bearer.notOnOrAfter === undefined) {
    throw samlError(
      settings,
      "SAML_SUBJECT_INVALID",
      "The bearer SubjectConfirmationData has no NotOnOrAfter.",
      logDetails,
    );
  }
  checkTimes(
    settings,
    nowMs,
    "assertion (Conditions)",
    fields.notBefore,
    fields.notOnOrAfter,
    logDetails,
  );
  checkTimes(
    settings,
    nowMs,
    "assertion (SubjectConfirmationData)",
    bearer.notBefore,
    bearer.notOnOrAfter,
    logDetails,
  );

  const responseInResponseTo = attribute(response, "InResponseTo");
  if (
    bearer.inResponseTo !== undefined &&
    responseInResponseTo !== undefined &&
    bearer.inResponseTo !== responseInResponseTo
  ) {
    throw samlError(
      settings,
      "SAML_IN_RESPONSE_TO_UNKNOWN",
      "The Response and its assertion answer different requests.",
      logDetails,
    );
  }
  const authnInstantMs = parseInstant(fields.authnInstant);
  if (authnInstantMs === undefined) {
    throw samlError(
      settings,
      "SAML_AUTHN_STATEMENT_INVALID",
      "The assertion has no AuthnStatement with a valid AuthnInstant.",
      logDetails,
    );
  }
  const latestEnd = Math.max(
    parseInstant(fields.notOnOrAfter) ?? 0,
    parseInstant(bearer.notOnOrAfter) ?? 0,
  );
  const validated: ValidatedResponse = {
    assertionId: fields.id,
    issuer,
    fields: { ...fields, nameId: fields.nameId },
    authnInstantMs,
    rememberUntilMs: latestEnd + settings.clockSkewMs,
    logDetails,
  };
  if (checked.responseId) validated.responseId = checked.responseId;
  // InResponseTo counts only from signed content: the assertion's bearer data, or the Response
  // when its own signature was verified. An unsigned Response attribute would let an attacker
  // turn a captured unsolicited assertion into a response to a request of their own browser.
  const inResponseTo =
    bearer.inResponseTo ?? (responseSignatureVerified ? responseInResponseTo : undefined);
  if (inResponseTo) validated.inResponseTo = inResponseTo;
  const sessionEnd = parseInstant(fields.sessionNotOnOrAfter);
  if (sessionEnd !== undefined) validated.sessionNotOnOrAfterMs = sessionEnd;
  return validated;
}
