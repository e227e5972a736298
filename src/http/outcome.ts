import type Koa from "koa";
import { isSignInError } from "../errors.js";
import type { Protocol } from "../identity/identity.js";
import { currentSession } from "./routes.js";
import type { ServiceContext } from "./service.js";

/**
 * Runs a sign-in step (SAML ACS, OIDC or SMART callback) and records its outcome once: the
 * sign-in counter and duration histogram, and an audit event (with the SMART patient and
 * encounter when a launch opened them). A failure is re-thrown for the error handler, which
 * renders it and writes the log line.
 */
export async function measureSignIn(
  ctx: Koa.Context,
  svc: ServiceContext,
  labels: { connection: string; protocol: Protocol },
  step: () => Promise<void>,
): Promise<void> {
  const stopTimer = svc.metrics.signInDuration.startTimer(labels);
  try {
    await step();
  } catch (error) {
    const code = isSignInError(error) ? error.code : "INTERNAL_ERROR";
    svc.metrics.signIns.inc({ ...labels, result: "failure", code });
    svc.audit.record({ event: "sign_in_failed", ...labels, code, clientIp: ctx.ip });
    throw error;
  } finally {
    stopTimer();
  }
  svc.metrics.signIns.inc({ ...labels, result: "success", code: "" });
  const identity = currentSession(ctx, svc)?.identity;
  if (!identity) return;
  const smart = identity.smart;
  svc.audit.record({
    event: "sign_in_succeeded",
    ...labels,
    user: identity.id,
    clientIp: ctx.ip,
    ...(smart?.patient ? { smartPatient: smart.patient } : {}),
    ...(smart?.encounter ? { smartEncounter: smart.encounter } : {}),
  });
  if (smart) {
    svc.audit.record({
      event: "smart_launch",
      connection: identity.connection,
      user: identity.id,
      fhirBaseUrl: smart.fhirBaseUrl,
      clientIp: ctx.ip,
      ...(smart.patient ? { patient: smart.patient } : {}),
      ...(smart.encounter ? { encounter: smart.encounter } : {}),
    });
  }
}
