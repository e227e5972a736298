import type Koa from "koa";
import type { Identity, Protocol } from "../identity/identity.js";
import { SignInError } from "../errors.js";
import type { ServiceContext } from "./service.js";

/** Records a completed sign-in: metrics and one audit event. */
export function recordSignInSuccess(ctx: Koa.Context, svc: ServiceContext, identity: Identity): void {
  svc.metrics.signIns.inc({
    connection: identity.connection,
    protocol: identity.protocol,
    result: "success",
    code: "",
  });
  svc.audit.record({
    event: "sign_in_succeeded",
    connection: identity.connection,
    protocol: identity.protocol,
    user: identity.id,
    clientIp: ctx.ip,
    ...(identity.smart?.patient ? { smartPatient: identity.smart.patient } : {}),
    ...(identity.smart?.encounter ? { smartEncounter: identity.smart.encounter } : {}),
  });
  if (identity.smart) {
    svc.audit.record({
      event: "smart_launch",
      connection: identity.connection,
      user: identity.id,
      fhirBaseUrl: identity.smart.fhirBaseUrl,
      clientIp: ctx.ip,
      ...(identity.smart.patient ? { patient: identity.smart.patient } : {}),
      ...(identity.smart.encounter ? { encounter: identity.smart.encounter } : {}),
    });
  }
}

/** Records a rejected sign-in: metrics and one audit event; the error page and log line come from the error handler. */
export function recordSignInFailure(
  ctx: Koa.Context,
  svc: ServiceContext,
  connection: string,
  protocol: Protocol,
  error: unknown,
): void {
  const code = error instanceof SignInError ? error.code : "INTERNAL_ERROR";
  svc.metrics.signIns.inc({ connection, protocol, result: "failure", code });
  svc.audit.record({ event: "sign_in_failed", connection, protocol, code, clientIp: ctx.ip });
}

/**
 * Runs a sign-in step (ACS, callback) and records its failure; the caller records success
 * once the session exists.
 */
export async function withSignInOutcome<T>(
  ctx: Koa.Context,
  svc: ServiceContext,
  connection: string,
  protocol: Protocol,
  step: () => Promise<T>,
): Promise<T> {
  try {
    return await step();
  } catch (error) {
    recordSignInFailure(ctx, svc, connection, protocol, error);
    throw error;
  }
}
