import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Prometheus metrics of one service instance, on its own registry. */
export interface Metrics {
  registry: Registry;
  signIns: Counter<"connection" | "protocol" | "result" | "code">;
  signInDuration: Histogram<"connection" | "protocol">;
  logouts: Counter<"connection" | "kind">;
}

/** Creates the metrics registry; `defaults` adds process metrics (CPU, memory, event loop). */
export function createMetrics(defaults = true): Metrics {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry, prefix: "federated_signin_" });
  return {
    registry,
    signIns: new Counter({
      name: "federated_signin_sign_ins_total",
      help: "Completed sign-in attempts by connection, protocol, result (success/failure) and error code",
      labelNames: ["connection", "protocol", "result", "code"],
      registers: [registry],
    }),
    signInDuration: new Histogram({
      name: "federated_signin_sign_in_duration_seconds",
      help: "Time to validate a sign-in response and create the session, in seconds",
      labelNames: ["connection", "protocol"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    logouts: new Counter({
      name: "federated_signin_logouts_total",
      help: "Logouts by connection and kind (local, idp, slo)",
      labelNames: ["connection", "kind"],
      registers: [registry],
    }),
  };
}
