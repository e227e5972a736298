import type Koa from "koa";
import { readForm } from "../http/form.js";
import { resetCurrentSession } from "../http/routes.js";
import type { ServiceContext } from "../http/service.js";
import { buildIdentity } from "../identity/map.js";
import { attachTraceDetails } from "../traces/trace.js";
import type { ParsedSamlConnection } from "../config/schema.js";
import { startSession, type IdpSessionInfo } from "../session/session.js";
import { recordAssertionId } from "./replay-cache.js";
import {
  clearBrowserBinding,
  consumeOutstandingRequest,
  readBrowserBinding,
} from "./request-state.js";
import { samlError } from "./response-structure.js";
import type { SamlSettings } from "./settings.js";
import type { ValidatedResponse } from "./validate-response.js";

/**
 * Validates a SAMLResponse form value at `nowMs` with the connection's current trusted
 * certificates (see SamlConnection.validate).
 */
export type ResponseValidation = (
  samlResponse: string,
  nowMs: number,
) => Promise<ValidatedResponse>;

/** Finds where the sign-in lands: the stored returnTo, or idpInitiatedReturnTo when unsolicited. */
async function resolveReturnTo(
  ctx: Koa.Context,
  svc: ServiceContext,
  settings: SamlSettings,
  validated: ValidatedResponse,
): Promise<string> {
  const logDetails = validated.logDetails;
  if (validated.inResponseTo === undefined) {
    if (!settings.allowIdpInitiated) {
      throw samlError(
        settings,
        "SAML_UNSOLICITED",
        "The SAML response does not answer a request of this service.",
        logDetails,
      );
    }
    // RelayState of an unsolicited response is never used as a redirect target.
    return settings.idpInitiatedReturnTo;
  }
  const request = await consumeOutstandingRequest(
    svc,
    settings,
    validated.inResponseTo,
    readBrowserBinding(ctx, svc, settings),
  );
  if (!request) {
    throw samlError(
      settings,
      "SAML_IN_RESPONSE_TO_UNKNOWN",
      "The SAML response answers no outstanding request of this browser.",
      logDetails,
    );
  }
  return request.returnTo;
}

/**
 * Handles `POST /saml/:id/acs`: validates the response, consumes the outstanding request and
 * the assertion ID, and only then starts the session and redirects (303) to the return path.
 */
export async function handleAcs(
  ctx: Koa.Context,
  svc: ServiceContext,
  conn: ParsedSamlConnection,
  settings: SamlSettings,
  validate: ResponseValidation,
): Promise<void> {
  const form = await readForm(ctx, settings.maxResponseSize);
  const samlResponse = form.get("SAMLResponse");
  if (!samlResponse) {
    throw samlError(
      settings,
      "SAML_MISSING_RESPONSE",
      "The request has no SAMLResponse form field.",
    );
  }
  const nowMs = svc.clock.now();
  const validated = await validate(samlResponse, nowMs);
  attachTraceDetails(ctx, {
    ...validated.logDetails,
    assertionId: validated.assertionId,
    nameIdFormat: validated.fields.nameIdFormat,
    audience: validated.fields.audienceRestrictions.flat().join(" "),
  });

  const firstUse = await recordAssertionId(
    svc.store,
    settings.connectionId,
    validated.assertionId,
    validated.rememberUntilMs,
    nowMs,
  );
  if (!firstUse) {
    throw samlError(
      settings,
      "SAML_REPLAYED",
      "This SAML assertion was already used.",
      validated.logDetails,
    );
  }
  const returnTo = await resolveReturnTo(ctx, svc, settings, validated);

  const fields = validated.fields;
  const identity = buildIdentity({
    connection: settings.connectionId,
    protocol: "saml",
    issuer: validated.issuer,
    subject: fields.nameId,
    claims: { ...fields.attributes },
    claimsConfig: conn.claims,
    authenticatedAt: validated.authnInstantMs,
    extraAuthMethods: fields.authnContextClassRefs,
  });
  const idp: IdpSessionInfo = { nameId: fields.nameId };
  if (fields.nameIdFormat) idp.nameIdFormat = fields.nameIdFormat;
  if (fields.nameQualifier) idp.nameQualifier = fields.nameQualifier;
  if (fields.spNameQualifier) idp.spNameQualifier = fields.spNameQualifier;
  if (fields.sessionIndex) idp.sessionIndex = fields.sessionIndex;
  await startSession(ctx, svc.clock, svc.lifetime, {
    identity,
    idp,
    ...(validated.sessionNotOnOrAfterMs !== undefined
      ? { idpSessionNotOnOrAfter: validated.sessionNotOnOrAfterMs }
      : {}),
  });
  resetCurrentSession(ctx);
  if (validated.inResponseTo !== undefined) clearBrowserBinding(ctx, svc, settings);
  ctx.status = 303;
  ctx.redirect(`${svc.baseUrl}${returnTo}`);
}
