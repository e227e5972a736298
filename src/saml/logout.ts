import type Koa from "koa";
import type { Element } from "@xmldom/xmldom";
import { getVerifiedXml } from "@node-saml/node-saml/lib/xml.js";
import { SignInError } from "../errors.js";
import { readForm } from "../http/form.js";
import { endSessionsEverywhere, recordLogout } from "../http/logout.js";
import { currentSession, resetCurrentSession } from "../http/routes.js";
import type { ServiceContext } from "../http/service.js";
import type { SessionRecord } from "../session/session.js";
import { newMessageId } from "./authn-request.js";
import {
  buildRedirectUrl,
  decodeRedirectMessage,
  RedirectBindingError,
  SIGNATURE_ALGORITHMS,
} from "./redirect-binding.js";
import { logoutRequestKey, REQUEST_TTL_MS } from "./request-state.js";
import { checkAlgorithms, samlError } from "./response-structure.js";
import type { SamlSettings } from "./settings.js";
import {
  NS,
  attribute,
  childElements,
  escapeXml,
  parseInstant,
  parseXml,
  samlInstant,
  textOf,
  truncate,
} from "./xml.js";

const STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success";

/**
 * Oldest accepted IssueInstant of an IdP LogoutRequest, in milliseconds before now (plus the
 * clock skew). Request IDs are remembered at least this long, so an older request cannot be
 * replayed after its ID was forgotten.
 */
export const LOGOUT_REQUEST_MAX_AGE_MS = REQUEST_TTL_MS;

/** Store key that marks an IdP LogoutRequest ID as used. */
export function idpLogoutRequestKey(connectionId: string, requestId: string): string {
  return `saml:${connectionId}:idp-logout:${requestId}`;
}

function allowedQueryAlgorithms(settings: SamlSettings): string[] {
  const strong: string[] = [
    SIGNATURE_ALGORITHMS.rsaSha256,
    SIGNATURE_ALGORITHMS.rsaSha384,
    SIGNATURE_ALGORITHMS.rsaSha512,
  ];
  return settings.allowSha1 ? [...strong, SIGNATURE_ALGORITHMS.rsaSha1] : strong;
}

/**
 * Builds the IdP logout URL for a session (SP-initiated single logout, HTTP-Redirect binding),
 * or returns undefined when the IdP has no single logout URL. The LogoutRequest ID is stored so
 * the IdP's LogoutResponse can be matched.
 */
export async function startIdpLogout(
  svc: ServiceContext,
  settings: SamlSettings,
  record: SessionRecord,
): Promise<string | undefined> {
  const idp = record.idp;
  if (!settings.idpSloUrl || !idp?.nameId) return undefined;
  const id = newMessageId(svc.ids);
  const nameIdAttributes = [
    idp.nameIdFormat ? ` Format="${escapeXml(idp.nameIdFormat)}"` : "",
    idp.nameQualifier ? ` NameQualifier="${escapeXml(idp.nameQualifier)}"` : "",
    idp.spNameQualifier ? ` SPNameQualifier="${escapeXml(idp.spNameQualifier)}"` : "",
  ].join("");
  const sessionIndex = idp.sessionIndex
    ? `<samlp:SessionIndex>${escapeXml(idp.sessionIndex)}</samlp:SessionIndex>`
    : "";
  const xml =
    `<samlp:LogoutRequest xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${id}" Version="2.0"` +
    ` IssueInstant="${samlInstant(svc.clock.now())}" Destination="${escapeXml(settings.idpSloUrl)}">` +
    `<saml:Issuer>${escapeXml(settings.spEntityId)}</saml:Issuer>` +
    `<saml:NameID${nameIdAttributes}>${escapeXml(idp.nameId)}</saml:NameID>${sessionIndex}` +
    `</samlp:LogoutRequest>`;
  await svc.store.set(logoutRequestKey(settings.connectionId, id), "1", REQUEST_TTL_MS);
  return buildRedirectUrl(settings.idpSloUrl, "SAMLRequest", xml, {
    ...(settings.spSigningKey ? { signingKey: settings.spSigningKey } : {}),
  });
}

interface InboundMessage {
  root: Element;
  signed: boolean;
  relayState?: string;
}

/** Reads a logout message from the HTTP-Redirect (GET) or HTTP-POST binding. */
async function readLogoutMessage(
  ctx: Koa.Context,
  settings: SamlSettings,
): Promise<InboundMessage> {
  try {
    if (ctx.method === "GET") {
      const parameter = ctx.query.SAMLRequest !== undefined ? "SAMLRequest" : "SAMLResponse";
      const message = decodeRedirectMessage(
        ctx.querystring,
        parameter,
        settings.idpCerts,
        allowedQueryAlgorithms(settings),
      );
      const inbound: InboundMessage = {
        root: parseXml(message.xml).documentElement as Element,
        signed: message.signed,
      };
      if (message.relayState !== undefined) inbound.relayState = message.relayState;
      return inbound;
    }
    const form = await readForm(ctx, settings.maxResponseSize);
    const encoded = form.get("SAMLRequest") ?? form.get("SAMLResponse");
    if (!encoded) throw new RedirectBindingError("the form has no SAMLRequest or SAMLResponse");
    const xml = Buffer.from(encoded, "base64").toString("utf8");
    const doc = parseXml(xml);
    checkAlgorithms(settings, doc, {});
    // Verify-then-read: with a valid signature, only the signed bytes are read. node-saml
    // declares the parameter with the DOM lib's Element type, which this project does not load.
    const hasSignature =
      childElements(doc.documentElement as Element, NS.dsig, "Signature").length > 0;
    const verified = hasSignature
      ? getVerifiedXml(xml, doc.documentElement as never, settings.idpCerts)
      : null;
    if (hasSignature && !verified) {
      throw new RedirectBindingError("the XML signature does not verify with the IdP certificates");
    }
    const root = verified
      ? (parseXml(verified).documentElement as Element)
      : (doc.documentElement as Element);
    const inbound: InboundMessage = { root, signed: verified !== null };
    const relayState = form.get("RelayState");
    if (relayState !== null) inbound.relayState = relayState;
    return inbound;
  } catch (error) {
    if (error instanceof SignInError) throw error;
    throw samlError(
      settings,
      "SAML_LOGOUT_INVALID",
      "The logout message is invalid or its signature does not verify.",
      {
        reason: truncate((error as Error).message, 200),
      },
    );
  }
}

/**
 * Handles `GET|POST /saml/:id/slo`. A signed IdP LogoutRequest ends the matching sessions on
 * every instance and gets a LogoutResponse. A LogoutResponse to our own LogoutRequest sends the browser home.
 */
export async function handleSlo(
  ctx: Koa.Context,
  svc: ServiceContext,
  settings: SamlSettings,
): Promise<void> {
  const message = await readLogoutMessage(ctx, settings);
  const root = message.root;
  const issuer = textOf(childElements(root, NS.assertion, "Issuer")[0]);
  const logDetails = {
    messageId: truncate(attribute(root, "ID"), 80),
    inResponseTo: truncate(attribute(root, "InResponseTo"), 80),
    issuer: truncate(issuer),
  };
  if (
    root.namespaceURI !== NS.protocol ||
    !["LogoutRequest", "LogoutResponse"].includes(root.localName ?? "")
  ) {
    throw samlError(
      settings,
      "SAML_LOGOUT_INVALID",
      "The message is not a LogoutRequest or LogoutResponse.",
      logDetails,
    );
  }
  if (issuer === undefined || !settings.idpLogoutIssuers.includes(issuer)) {
    throw samlError(
      settings,
      "SAML_LOGOUT_INVALID",
      "The logout message does not come from this connection's IdP.",
      logDetails,
    );
  }
  if (root.localName === "LogoutResponse") {
    await handleLogoutResponse(svc, settings, root, logDetails);
    ctx.status = 303;
    ctx.redirect(`${svc.baseUrl}/`);
    return;
  }
  await handleIdpLogoutRequest(ctx, svc, settings, message, logDetails);
}

/**
 * Checks the LogoutRequest's time window and records its ID as used, so a captured request
 * cannot be sent again. IssueInstant is required and must be at most
 * {@link LOGOUT_REQUEST_MAX_AGE_MS} old, and NotOnOrAfter (when present) must not have passed,
 * both with the connection's clock skew.
 */
async function consumeLogoutRequestId(
  svc: ServiceContext,
  settings: SamlSettings,
  root: Element,
  requestId: string,
  logDetails: Record<string, string | undefined>,
): Promise<void> {
  const now = svc.clock.now();
  const skew = settings.clockSkewMs;
  const notOnOrAfter = parseInstant(attribute(root, "NotOnOrAfter"));
  if (notOnOrAfter !== undefined && now - skew >= notOnOrAfter) {
    throw samlError(settings, "SAML_LOGOUT_INVALID", "The LogoutRequest has expired.", logDetails);
  }
  const issueInstant = parseInstant(attribute(root, "IssueInstant"));
  if (issueInstant === undefined) {
    throw samlError(
      settings,
      "SAML_LOGOUT_INVALID",
      "The LogoutRequest has no valid IssueInstant.",
      logDetails,
    );
  }
  if (issueInstant > now + skew || issueInstant < now - skew - LOGOUT_REQUEST_MAX_AGE_MS) {
    throw samlError(
      settings,
      "SAML_LOGOUT_INVALID",
      "The LogoutRequest's IssueInstant is outside the accepted time window.",
      { ...logDetails, issueInstant: truncate(attribute(root, "IssueInstant"), 40) },
      { fix: "Check the clocks of this server and the IdP, or raise clockSkew on the connection." },
    );
  }
  const rememberUntil = Math.max(
    issueInstant + LOGOUT_REQUEST_MAX_AGE_MS + skew,
    notOnOrAfter === undefined ? 0 : notOnOrAfter + skew,
  );
  const firstUse = await svc.store.add(
    idpLogoutRequestKey(settings.connectionId, requestId),
    "1",
    Math.max(60_000, rememberUntil - now),
  );
  if (!firstUse) {
    throw samlError(
      settings,
      "SAML_LOGOUT_REPLAYED",
      "This LogoutRequest was already used.",
      logDetails,
    );
  }
}

/**
 * Ends every session of the user that a signed IdP LogoutRequest names, on every instance, and
 * sends the LogoutResponse.
 */
async function handleIdpLogoutRequest(
  ctx: Koa.Context,
  svc: ServiceContext,
  settings: SamlSettings,
  message: InboundMessage,
  logDetails: Record<string, string | undefined>,
): Promise<void> {
  const root = message.root;
  if (!message.signed) {
    throw samlError(
      settings,
      "SAML_LOGOUT_INVALID",
      "The IdP's LogoutRequest is not signed.",
      logDetails,
      {
        fix: "Configure the IdP to sign logout requests with its signing certificate.",
      },
    );
  }
  const requestId = attribute(root, "ID") ?? "";
  const nameId = textOf(childElements(root, NS.assertion, "NameID")[0]);
  if (requestId === "" || nameId === undefined || nameId === "") {
    throw samlError(
      settings,
      "SAML_LOGOUT_INVALID",
      "The LogoutRequest has no ID or no NameID.",
      logDetails,
    );
  }
  // A LogoutRequest signed by the same IdP for another application names that application's
  // SLO URL, and must not end sessions here.
  const destination = attribute(root, "Destination");
  if (destination !== undefined && destination !== settings.sloUrl) {
    throw samlError(
      settings,
      "SAML_LOGOUT_INVALID",
      "The LogoutRequest is addressed to another service provider.",
      { ...logDetails, destination: truncate(destination) },
      { fix: `Set the Logout URL in the IdP to ${settings.sloUrl}` },
    );
  }
  await consumeLogoutRequestId(svc, settings, root, requestId, logDetails);

  const sessionIndexes = childElements(root, NS.protocol, "SessionIndex").map(
    (element) => textOf(element) ?? "",
  );
  // The request names the user by NameID, and optionally narrows it to some of the user's
  // sessions at the IdP by SessionIndex. Every instance sharing the store signs them out.
  const selectors =
    sessionIndexes.length === 0
      ? [{ connection: settings.connectionId, subject: nameId }]
      : sessionIndexes.map((sessionIndex) => ({
          connection: settings.connectionId,
          subject: nameId,
          sessionIndex,
        }));
  for (const selector of selectors) {
    await endSessionsEverywhere(ctx, svc, selector, "slo");
  }
  // A store without set support has no index. The browser carrying the request may still hold
  // a matching session, so that one ends here and its cookie is cleared.
  const record = currentSession(ctx, svc);
  const matches =
    record !== undefined &&
    record.identity.connection === settings.connectionId &&
    record.idp?.nameId === nameId &&
    (sessionIndexes.length === 0 || sessionIndexes.includes(record.idp?.sessionIndex ?? ""));
  if (matches) {
    ctx.session = null;
    resetCurrentSession(ctx);
    // With an indexed store, endSessionsEverywhere already counted this session.
    if (svc.store.members === undefined) recordLogout(ctx, svc, record, "slo");
  }

  const responseXml =
    `<samlp:LogoutResponse xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${newMessageId(svc.ids)}" Version="2.0"` +
    ` IssueInstant="${samlInstant(svc.clock.now())}" InResponseTo="${escapeXml(requestId)}"` +
    (settings.idpSloUrl ? ` Destination="${escapeXml(settings.idpSloUrl)}"` : "") +
    `><saml:Issuer>${escapeXml(settings.spEntityId)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${STATUS_SUCCESS}"/></samlp:Status></samlp:LogoutResponse>`;
  if (!settings.idpSloUrl) {
    ctx.type = "text/plain";
    ctx.body = "Signed out.";
    return;
  }
  ctx.status = 302;
  ctx.redirect(
    buildRedirectUrl(settings.idpSloUrl, "SAMLResponse", responseXml, {
      ...(message.relayState !== undefined ? { relayState: message.relayState } : {}),
      ...(settings.spSigningKey ? { signingKey: settings.spSigningKey } : {}),
    }),
  );
}

async function handleLogoutResponse(
  svc: ServiceContext,
  settings: SamlSettings,
  root: Element,
  logDetails: Record<string, string | undefined>,
): Promise<void> {
  const inResponseTo = attribute(root, "InResponseTo");
  // NOTE: an unsigned LogoutResponse is accepted when its InResponseTo matches our pending
  // request, because it only sends the browser home. The local session ended before that.
  const pending = inResponseTo
    ? await svc.store.take(logoutRequestKey(settings.connectionId, inResponseTo))
    : undefined;
  if (pending === undefined) {
    throw samlError(
      settings,
      "SAML_LOGOUT_INVALID",
      "The LogoutResponse answers no logout request of this service.",
      logDetails,
    );
  }
  const status = childElements(root, NS.protocol, "Status")[0];
  const code = status ? childElements(status, NS.protocol, "StatusCode")[0] : undefined;
  const value = code ? attribute(code, "Value") : undefined;
  if (value !== STATUS_SUCCESS) {
    const statusMessage = status
      ? textOf(childElements(status, NS.protocol, "StatusMessage")[0])
      : undefined;
    throw samlError(
      settings,
      "SAML_LOGOUT_INVALID",
      "The IdP reported that single logout failed.",
      { ...logDetails, status: truncate(value) },
      {
        providerMessage: [value, truncate(statusMessage, 300)].filter(Boolean).join(": "),
        fix: "You are signed out of this application; sign out at the identity provider too, or close the browser.",
      },
    );
  }
}
