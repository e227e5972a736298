/**
 * The one error type of federated-signin. Every rejected sign-in, callback, launch or logout
 * throws a {@link SignInError} whose `code` comes from the closed list {@link ERROR_CODES}.
 *
 * Two layers of detail: `message` and `fix` are safe to show in a browser, because they are
 * built from our own configuration only. `logDetails` contains what the stranger sent (IDs, issuer
 * strings, status messages) and goes only to the log, never to the page.
 */

/** Description of one error code: HTTP status, a short title and the default fix. */
export interface ErrorCodeInfo {
  status: number;
  title: string;
  /** Default advice; a thrower may replace it with a fix built from the connection's config. */
  fix: string;
}

function info(status: number, title: string, fix: string): ErrorCodeInfo {
  return { status, title, fix };
}

/** The closed list of error codes. Tests, metrics and logs use these names. */
export const ERROR_CODES = {
  // Requests that do not reach a protocol handler.
  CONNECTION_NOT_FOUND: info(
    404,
    "Unknown connection",
    "Check the connection id in the URL against the `connections` list in the configuration.",
  ),
  BAD_REQUEST: info(400, "Invalid request", "Start the sign-in again from the sign-in page."),
  BODY_TOO_LARGE: info(
    413,
    "Request body too large",
    "The identity provider sent more data than this service accepts. Check the IdP setup.",
  ),
  STORE_UNAVAILABLE: info(
    503,
    "Session store unavailable",
    "The session store cannot be reached. Check that Redis is running and reachable, then retry.",
  ),
  NOT_SIGNED_IN: info(401, "Not signed in", "Sign in first."),
  INTERNAL_ERROR: info(500, "Internal error", "Retry; if it persists, check the service log."),

  // SAML.
  SAML_MISSING_RESPONSE: info(
    400,
    "No SAML response",
    "The request has no SAMLResponse form field. Send the IdP's response by HTTP-POST.",
  ),
  SAML_MALFORMED: info(
    400,
    "Malformed SAML message",
    "The SAML message is not valid base64-encoded XML of the expected form.",
  ),
  SAML_DTD_FORBIDDEN: info(
    400,
    "SAML message contains a DOCTYPE",
    "SAML messages must not contain a DOCTYPE or entity declarations.",
  ),
  SAML_STATUS_NOT_SUCCESS: info(
    401,
    "The identity provider reported an error",
    "Read the status message from the identity provider below and fix the IdP setup.",
  ),
  SAML_SIGNATURE_MISSING: info(
    401,
    "SAML response is not signed",
    "Configure the IdP to sign the assertion or the response.",
  ),
  SAML_SIGNATURE_INVALID: info(
    401,
    "SAML signature is invalid",
    "The response was not signed by a certificate this connection trusts. Update the IdP certificate or metadata in the configuration.",
  ),
  SAML_WEAK_ALGORITHM: info(
    401,
    "SAML signature uses a weak algorithm",
    "Configure the IdP to sign with RSA-SHA256, or set allowSha1: true on the connection.",
  ),
  SAML_ASSERTION_COUNT: info(
    401,
    "SAML response must contain exactly one assertion",
    "The IdP must send one signed assertion per response.",
  ),
  SAML_ISSUER_MISMATCH: info(
    401,
    "SAML issuer does not match",
    "Set idp.entityId (or the metadata) to the IdP's entity ID.",
  ),
  SAML_AUDIENCE_MISMATCH: info(
    401,
    "SAML audience does not match",
    "Set the IdP's audience (Entra: Identifier (Entity ID)) to this service provider's entity ID.",
  ),
  SAML_DESTINATION_MISMATCH: info(
    401,
    "SAML Destination does not match",
    "Set the IdP's reply URL (ACS URL) to this connection's ACS URL.",
  ),
  SAML_RECIPIENT_MISMATCH: info(
    401,
    "SAML Recipient does not match",
    "Set the IdP's reply URL (ACS URL) to this connection's ACS URL.",
  ),
  SAML_NOT_YET_VALID: info(
    401,
    "SAML assertion is not yet valid",
    "Check the clocks of this server and the IdP, or raise clockSkew on the connection.",
  ),
  SAML_EXPIRED: info(
    401,
    "SAML assertion has expired",
    "Sign in again. If this repeats, check the clocks or raise clockSkew on the connection.",
  ),
  SAML_IN_RESPONSE_TO_UNKNOWN: info(
    401,
    "SAML response does not answer a request from this browser",
    "Start the sign-in again from this application's sign-in page.",
  ),
  SAML_UNSOLICITED: info(
    401,
    "Unsolicited SAML response",
    "Start the sign-in from this application, or set allowIdpInitiated: true on the connection.",
  ),
  SAML_REPLAYED: info(
    401,
    "SAML assertion was already used",
    "Start the sign-in again; each assertion is accepted once.",
  ),
  SAML_SUBJECT_INVALID: info(
    401,
    "SAML subject is missing or invalid",
    "Configure the IdP to send a NameID with a bearer SubjectConfirmation.",
  ),
  SAML_AUTHN_STATEMENT_INVALID: info(
    401,
    "SAML assertion has no valid AuthnStatement",
    "Configure the IdP to include an AuthnStatement with AuthnInstant in the assertion.",
  ),
  SAML_DECRYPTION_FAILED: info(
    401,
    "SAML assertion could not be decrypted",
    "Configure sp.decryptionKey with the key whose certificate the IdP encrypts to.",
  ),
  SAML_LOGOUT_INVALID: info(
    400,
    "SAML logout message rejected",
    "Check the IdP's single logout setup and signing certificate.",
  ),
  SAML_LOGOUT_REPLAYED: info(
    400,
    "SAML LogoutRequest was already used",
    "Each LogoutRequest is accepted once. Check that nothing between the IdP and this service resends it.",
  ),

  // OpenID Connect.
  OIDC_PROVIDER_ERROR: info(
    401,
    "The OpenID provider reported an error",
    "Read the provider's error below and fix the app registration.",
  ),
  OIDC_STATE_MISMATCH: info(
    401,
    "Sign-in state does not match",
    "Start the sign-in again from this application's sign-in page in the same browser.",
  ),
  OIDC_ISSUER_MISMATCH: info(
    401,
    "OpenID issuer does not match",
    "Set the connection's issuer to the provider's issuer.",
  ),
  OIDC_TENANT_NOT_ALLOWED: info(
    403,
    "Tenant is not allowed",
    "Add the tenant ID to allowedTenants on the connection, or sign in with an account of an allowed tenant.",
  ),
  OIDC_AUDIENCE_MISMATCH: info(
    401,
    "ID token audience does not match",
    "Set clientId on the connection to the application (client) ID.",
  ),
  OIDC_NONCE_MISMATCH: info(401, "ID token nonce does not match", "Start the sign-in again."),
  OIDC_TOKEN_EXPIRED: info(
    401,
    "ID token has expired or is not yet valid",
    "Check the server clock, or raise clockSkew on the connection.",
  ),
  OIDC_SIGNATURE_INVALID: info(
    401,
    "ID token signature is invalid",
    "The ID token was not signed by a key the provider publishes.",
  ),
  OIDC_TOKEN_INVALID: info(
    401,
    "Token response is invalid",
    "The provider's token response failed validation. Check the log for the rule that failed.",
  ),
  OIDC_LOGOUT_TOKEN_INVALID: info(
    400,
    "Logout token rejected",
    "The back-channel logout token failed validation. Check the log for the rule that failed.",
  ),
  OIDC_DISCOVERY_FAILED: info(
    502,
    "OpenID provider discovery failed",
    "Check the connection's issuer URL and that the provider is reachable.",
  ),

  // SMART on FHIR.
  SMART_ISS_NOT_ALLOWED: info(
    403,
    "FHIR server is not allowed",
    "Add the FHIR base URL to fhirServers on the connection if this EHR is trusted.",
  ),
  SMART_LAUNCH_INVALID: info(
    400,
    "SMART launch request is invalid",
    "The EHR must open the launch URL with both iss and launch parameters.",
  ),
  SMART_TOKEN_REFRESH_FAILED: info(
    401,
    "SMART access token could not be refreshed",
    "Launch the app again from the EHR, or sign in again; the refresh token is missing, expired or revoked.",
  ),
  SMART_DISCOVERY_FAILED: info(
    502,
    "SMART configuration could not be loaded",
    "Check that the FHIR server publishes .well-known/smart-configuration.",
  ),

  // Admin pages.
  ADMIN_NOT_CONFIGURED: info(
    404,
    "Not found",
    "Set admin.token in the configuration to turn on the admin pages.",
  ),
  ADMIN_UNAUTHORIZED: info(
    401,
    "Admin token missing or wrong",
    "Send the admin token from the configuration as Authorization: Bearer <token>.",
  ),
} as const satisfies Record<string, ErrorCodeInfo>;

/** A stable error code from {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Values written to the log with an error; never shown to the browser. */
export type LogDetails = Record<string, string | number | boolean | undefined>;

/** Options for {@link SignInError}. */
export interface SignInErrorOptions {
  /** Advice built from our configuration; defaults to the code's generic fix. */
  fix?: string;
  /** Connection id, when known. */
  connection?: string;
  /** Values for the log only (message IDs, the issuer that arrived, the IdP's status). */
  logDetails?: LogDetails;
  /** Text from the identity provider that is safe and useful to show (e.g. an AADSTS status). */
  providerMessage?: string;
  cause?: unknown;
}

/** A rejected sign-in, launch or logout, with a stable code. */
export class SignInError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly fix: string;
  readonly connection: string | undefined;
  readonly logDetails: LogDetails;
  readonly providerMessage: string | undefined;

  constructor(code: ErrorCode, message: string, options: SignInErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SignInError";
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.fix = options.fix ?? ERROR_CODES[code].fix;
    this.connection = options.connection;
    this.logDetails = options.logDetails ?? {};
    this.providerMessage = options.providerMessage;
  }
}

/** Tells whether `value` is a {@link SignInError}, optionally with the given code. */
export function isSignInError(value: unknown, code?: ErrorCode): value is SignInError {
  return value instanceof SignInError && (code === undefined || value.code === code);
}

/** Raised when the configuration is invalid; each problem names the key, the value and the fix. */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}
