import * as client from "openid-client";
import type { ServiceContext } from "../http/service.js";
import type { SessionRecord } from "../session/session.js";
import type { SmartConnection } from "./connection.js";

/** Timeout of one revocation request, in seconds; logout waits at most twice this long. */
export const REVOCATION_TIMEOUT_SECONDS = 5;

/**
 * Revokes the refresh token and the access token of an ended SMART session at the EHR's
 * `revocation_endpoint` (RFC 7009), when its smart-configuration advertises one. Best effort:
 * a failure is logged (without the token) and never fails the logout. The refresh token goes
 * first, because RFC 7009 section 2.1 lets a server revoke its access tokens along with it.
 */
export async function revokeSmartTokens(
  connection: SmartConnection,
  record: SessionRecord,
): Promise<void> {
  const svc = connection.svc;
  const smart = record.identity.smart;
  const tokens = record.tokens;
  if (!smart || !tokens) return;
  const pending: Array<[string, "refresh_token" | "access_token"]> = [];
  if (tokens.refreshToken) pending.push([tokens.refreshToken, "refresh_token"]);
  if (tokens.accessToken) pending.push([tokens.accessToken, "access_token"]);
  if (pending.length === 0) return;

  let configuration: client.Configuration;
  try {
    const server = await connection.server(connection.allowedServer(smart.fhirBaseUrl));
    if (typeof server.metadata.revocation_endpoint !== "string") return;
    configuration = connection.configuration(server);
    configuration.timeout = REVOCATION_TIMEOUT_SECONDS;
  } catch (error) {
    logFailure(svc, connection.id, smart.fhirBaseUrl, "discovery", error);
    return;
  }
  for (const [token, hint] of pending) {
    try {
      await client.tokenRevocation(configuration, token, { token_type_hint: hint });
    } catch (error) {
      logFailure(svc, connection.id, smart.fhirBaseUrl, hint, error);
    }
  }
}

/** Logs a failed revocation with the error's name, code and message, never the token. */
function logFailure(
  svc: ServiceContext,
  connectionId: string,
  fhirBaseUrl: string,
  step: string,
  error: unknown,
): void {
  const { name, code, message } = (error ?? {}) as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
  };
  const oauthError = (error as { error?: unknown } | undefined)?.error;
  svc.logger.warn(
    {
      connection: connectionId,
      fhirBaseUrl,
      step,
      err: {
        name: String(name),
        code: typeof code === "string" ? code : undefined,
        error: typeof oauthError === "string" ? oauthError.slice(0, 100) : undefined,
        message: String(message).slice(0, 200),
      },
    },
    "SMART token revocation failed; the tokens stay valid at the EHR until they expire",
  );
}
