import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Prometheus metrics of one service instance, on its own registry. */
export interface Metrics {
  registry: Registry;
  signIns: Counter<"connection" | "protocol" | "result" | "code">;
  signInDuration: Histogram<"connection" | "protocol">;
  logouts: Counter<"connection" | "kind">;
  /** IdP metadata loads and refreshes by connection and result (see MetadataRefreshResult). */
  metadataRefreshes: Counter<"connection" | "result">;
  /** Whole days until a certificate expires (negative once expired), by connection and role. */
  certificateExpiryDays: Gauge<"connection" | "role">;
  /**
   * Functions that set certificateExpiryDays from the current time before each scrape, keyed
   * by connection id, so the gauge counts down between metadata refreshes.
   */
  certificateExpiryUpdaters: Map<string, () => void>;
}

/** Creates the metrics registry; `defaults` adds process metrics (CPU, memory, event loop). */
export function createMetrics(defaults = true): Metrics {
  const registry = new Registry();
  const certificateExpiryUpdaters = new Map<string, () => void>();
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
      help: "Ended sessions by connection and kind (local, idp, slo, backchannel)",
      labelNames: ["connection", "kind"],
      registers: [registry],
    }),
    metadataRefreshes: new Counter({
      name: "federated_signin_metadata_refresh_total",
      help: "IdP metadata loads and refreshes by connection and result (updated, unchanged, cache_used, or why the document was rejected)",
      labelNames: ["connection", "result"],
      registers: [registry],
    }),
    certificateExpiryDays: new Gauge({
      name: "federated_signin_certificate_expiry_days",
      help: "Whole days until a certificate expires, negative once expired, by connection and role (idp-signing: the soonest of the trusted IdP certificates)",
      labelNames: ["connection", "role"],
      registers: [registry],
      collect() {
        for (const update of certificateExpiryUpdaters.values()) update();
      },
    }),
    certificateExpiryUpdaters,
  };
}
