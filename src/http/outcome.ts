import type Koa from "koa";
import { isSignInError } from "../errors.js";
import type { Protocol } from "../identity/identity.js";
import { buildTrace, recordTrace } from "../traces/trace.js";
import { currentSession } from "./routes.js";
import type { ServiceContext } from "./service.js";

/**
 * Runs a sign-in step (SAML ACS, OIDC or SMART callback) and records its outcome once: the
 * sign-in counter and duration histogram, and an audit event (with the SMART patient and
 * encounter when a launch opened them). A connection with `trace: true` also gets a login trace.
 * A failure is re-thrown for the error handler, which renders it and writes the log line.
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
    await keepTrace(ctx, svc, labels, { error });
    throw error;
  } finally {
    stopTimer();
  }
  svc.metrics.signIns.inc({ ...labels, result: "success", code: "" });
  const record = currentSession(ctx, svc);
  await keepTrace(ctx, svc, labels, { record });
  const identity = record?.identity;
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

/** Stores the attempt's redacted trace when the connection has `trace: true`, logging a failure. */
async function keepTrace(
  ctx: Koa.Context,
  svc: ServiceContext,
  labels: { connection: string; protocol: Protocol },
  outcome: Parameters<typeof buildTrace>[4],
): Promise<void> {
  const connection = svc.config.connections.find((each) => each.id === labels.connection);
  if (!connection?.trace) return;
  try {
    const trace = buildTrace(ctx, connection, labels.protocol, svc.clock.now(), outcome);
    await recordTrace(svc.store, trace);
  } catch (error) {
    svc.logger.warn(
      { connection: labels.connection, err: { message: (error as Error).message } },
      "Login trace could not be stored; the sign-in itself is not affected",
    );
  }
}
