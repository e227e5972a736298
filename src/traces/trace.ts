import type Koa from "koa";
import { MAPPABLE_FIELDS, type ParsedConnection } from "../config/schema.js";
import { isSignInError } from "../errors.js";
import type { Identity } from "../identity/identity.js";
import { resolveClaimMapping } from "../identity/map.js";
import type { SessionRecord } from "../session/session.js";
import { getJson, type Store } from "../session/store.js";
import { redactDetail, redactValue } from "./redact.js";

/** How long a login trace is kept, in milliseconds. */
export const TRACE_TTL_MS = 60 * 60_000;
/** Most traces kept per connection; the oldest is dropped past it. */
export const MAX_TRACES_PER_CONNECTION = 50;
/** Most claims listed per trace. */
const MAX_CLAIMS = 60;

const TRACE_DETAILS = Symbol("federated-signin.trace-details");

/** One sign-in attempt on a connection with `trace: true`, redacted for an admin to read. */
export interface SignInTrace {
  /** ISO 8601 time of the attempt. */
  at: string;
  connection: string;
  protocol: string;
  outcome: "success" | "failure";
  /** Error code of a rejected attempt. */
  code?: string;
  /** Our own description of the rejection (no values sent by the IdP). */
  message?: string;
  /** Message IDs, issuer, audience, destination, NameID format and similar, redacted. */
  received: Record<string, string>;
  /** Names of the claims or attributes that arrived, with redacted values. */
  claims: Array<{ name: string; value: string }>;
  /** Source claim and redacted value of each identity field. */
  mapping: Array<{ field: string; claim?: string; value?: string }>;
}

/** Store key of a connection's trace list. */
export function traceKey(connectionId: string): string {
  return `trace:${connectionId}`;
}

/**
 * Adds what a protocol module read from the message (message IDs, audience, Destination,
 * NameID format) to the trace of this request. Values are redacted when the trace is built, and
 * nothing is kept unless the connection has `trace: true`.
 */
export function attachTraceDetails(
  ctx: Koa.Context,
  details: Record<string, string | number | boolean | undefined>,
): void {
  const state = ctx.state as Record<symbol, Record<string, unknown> | undefined>;
  state[TRACE_DETAILS] = { ...state[TRACE_DETAILS], ...details };
}

function redactDetails(details: Record<string, unknown>): Record<string, string> {
  const received: Record<string, string> = {};
  for (const [name, value] of Object.entries(details)) {
    if (value === undefined || value === "") continue;
    received[name] = redactDetail(name, value);
  }
  return received;
}

function mappingOf(
  identity: Identity,
  claimsConfig: ParsedConnection["claims"],
): SignInTrace["mapping"] {
  const mapping = resolveClaimMapping(claimsConfig);
  const fields = identity as unknown as Record<string, unknown>;
  return MAPPABLE_FIELDS.map((field) => {
    const claim = (mapping[field] ?? []).find((name) => identity.claims[name] !== undefined);
    const value = fields[field];
    const hasValue = value !== undefined && !(Array.isArray(value) && value.length === 0);
    return {
      field,
      ...(claim !== undefined ? { claim } : {}),
      ...(hasValue ? { value: redactValue(claim ?? field, value) } : {}),
    };
  });
}

/** Builds the redacted trace of one sign-in attempt from its outcome. */
export function buildTrace(
  ctx: Koa.Context,
  connection: ParsedConnection,
  protocol: string,
  nowMs: number,
  outcome: { record?: SessionRecord | undefined; error?: unknown },
): SignInTrace {
  const attached = (ctx.state as Record<symbol, Record<string, unknown> | undefined>)[
    TRACE_DETAILS
  ];
  const details: Record<string, unknown> = { ...attached };
  const error = outcome.error;
  if (isSignInError(error)) Object.assign(details, error.logDetails);
  const record = outcome.record;
  const identity = record?.identity;
  if (identity) {
    details.issuer ??= identity.issuer;
    if (record.idp?.nameIdFormat) details.nameIdFormat ??= record.idp.nameIdFormat;
  }
  const trace: SignInTrace = {
    at: new Date(nowMs).toISOString(),
    connection: connection.id,
    protocol,
    outcome: error === undefined ? "success" : "failure",
    received: redactDetails(details),
    claims: identity
      ? Object.entries(identity.claims)
          .slice(0, MAX_CLAIMS)
          .map(([name, value]) => ({ name: name.slice(0, 200), value: redactValue(name, value) }))
      : [],
    mapping: identity ? mappingOf(identity, connection.claims) : [],
  };
  if (error !== undefined) {
    trace.code = isSignInError(error) ? error.code : "INTERNAL_ERROR";
    trace.message = isSignInError(error)
      ? error.message
      : "The service failed to handle this request.";
  }
  return trace;
}

/**
 * Adds a trace to its connection's list, newest first, keeping at most
 * {@link MAX_TRACES_PER_CONNECTION} for {@link TRACE_TTL_MS} after the latest attempt.
 *
 * NOTE: the list is read, changed and written back, so two attempts finishing at the same
 * moment (on one or several instances) may keep only one of the two traces.
 */
export async function recordTrace(store: Store, trace: SignInTrace): Promise<void> {
  const key = traceKey(trace.connection);
  const traces = (await getJson<SignInTrace[]>(store, key)) ?? [];
  traces.unshift(trace);
  await store.set(key, JSON.stringify(traces.slice(0, MAX_TRACES_PER_CONNECTION)), TRACE_TTL_MS);
}

/** Returns a connection's traces, newest first. */
export async function listTraces(store: Store, connectionId: string): Promise<SignInTrace[]> {
  return (await getJson<SignInTrace[]>(store, traceKey(connectionId))) ?? [];
}
