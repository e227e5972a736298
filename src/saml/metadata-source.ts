import type { Clock } from "../clock.js";
import type { Metrics } from "../http/metrics.js";
import type { Logger } from "../logger.js";
import {
  fetchMetadataDocument,
  MetadataError,
  parseIdpMetadata,
  type IdpMetadata,
  type MetadataRejection,
} from "./idp-metadata.js";
import type { MetadataDiskCache } from "./metadata-cache.js";
import { nextRefreshDelayMs, type RefreshBounds } from "./metadata-schedule.js";

/**
 * Result of one load or refresh, the `result` label of `federated_signin_metadata_refresh_total`:
 * the document was accepted and changed what is trusted (`updated`) or not (`unchanged`), the
 * disk copy was used at start (`cache_used`), or the document was rejected for a reason.
 */
export type MetadataRefreshResult = "updated" | "unchanged" | "cache_used" | MetadataRejection;

/** Minimum time between two refreshes triggered by a response signed with an unknown key. */
export const UNKNOWN_KEY_REFRESH_INTERVAL_MS = 5 * 60_000;

/** Settings of an {@link IdpMetadataSource}. */
export interface MetadataSourceOptions {
  connectionId: string;
  url: string;
  /** When set, every document must carry a valid enveloped signature by this certificate. */
  signingCertPem?: string;
  /** Disk copy of the last accepted document; undefined keeps no copy. */
  cache?: MetadataDiskCache;
  bounds: RefreshBounds;
  clock: Clock;
  /** Jitter source returning a number in [0, 1); defaults to Math.random. */
  random?: () => number;
  logger: Logger;
  metrics: Metrics;
}

/** Called with a changed document before it replaces the one in use; may throw MetadataError. */
export type MetadataChangeHandler = (metadata: IdpMetadata) => void;

/**
 * The IdP metadata behind `idp.metadataUrl`: loaded at start (from the disk copy when the URL
 * fails), refreshed on a schedule derived from the document's `cacheDuration` and
 * `validUntil`, and refreshed early, at most once per {@link UNKNOWN_KEY_REFRESH_INTERVAL_MS},
 * when a response arrives signed by a key that is not trusted. A rejected document never
 * replaces the accepted one. Every outcome is logged once and counted.
 */
export class IdpMetadataSource {
  private accepted: IdpMetadata | undefined;
  private onChange: MetadataChangeHandler | undefined;
  private onAccepted: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dueAtMs: number | undefined;
  private running: Promise<MetadataRefreshResult> | undefined;
  private lastUnknownKeyRefreshAtMs: number | undefined;
  private lastRefreshFailed = false;
  private scheduled = false;
  private closed = false;

  constructor(private readonly options: MetadataSourceOptions) {}

  /** The accepted document; throws before {@link load} succeeded. */
  get current(): IdpMetadata {
    if (!this.accepted) throw new Error("the IdP metadata has not been loaded");
    return this.accepted;
  }

  /** When the next scheduled refresh is due, in ms since the epoch (injected clock). */
  get nextRefreshAtMs(): number | undefined {
    return this.dueAtMs;
  }

  /**
   * Sets the function that applies a changed document to the connection, and the one called
   * after every refresh that accepted a document, changed or not.
   */
  setHandlers(handlers: { change: MetadataChangeHandler; accepted: () => void }): void {
    this.onChange = handlers.change;
    this.onAccepted = handlers.accepted;
  }

  /**
   * Loads the document at start: from the URL, or, when the download fails or the document is
   * rejected, from the disk copy if that copy passes the same checks. Throws the URL's
   * MetadataError when neither is usable.
   */
  async load(): Promise<IdpMetadata> {
    try {
      const { metadata, xml } = await this.download();
      this.accepted = metadata;
      await this.writeCache(xml);
      this.record("updated", { signingCerts: metadata.signingCerts.length }, "IdP metadata loaded");
      return metadata;
    } catch (error) {
      const rejection = asMetadataError(error);
      this.record(rejection.reason, { reason: rejection.message }, "IdP metadata load failed");
      const cached = await this.readCache();
      if (!cached) throw rejection;
      this.accepted = cached.metadata;
      this.record(
        "cache_used",
        { savedAt: new Date(cached.savedAtMs).toISOString(), file: this.options.cache?.file },
        "using the disk copy of the IdP metadata until the URL works again",
      );
      this.lastRefreshFailed = true;
      return cached.metadata;
    }
  }

  /** Starts the refresh schedule; the timer never keeps the process alive. */
  startSchedule(): void {
    if (this.closed) return;
    this.scheduled = true;
    this.scheduleNext();
  }

  /**
   * Downloads and checks the document now, applies it when it changed, and schedules the next
   * refresh. Concurrent calls share one download. Never throws for a rejected document: the
   * result names the outcome and the accepted copy stays.
   */
  refreshNow(): Promise<MetadataRefreshResult> {
    if (!this.running) {
      this.running = this.refresh().finally(() => {
        this.running = undefined;
        this.scheduleNext();
      });
    }
    return this.running;
  }

  /**
   * Refreshes early because a response was signed by an unknown key. Returns true when the
   * trusted signing certificates changed, so the response is worth validating again. At most
   * one such refresh starts per {@link UNKNOWN_KEY_REFRESH_INTERVAL_MS}; a call within that
   * interval waits only for a refresh that is already running.
   */
  async refreshForUnknownKey(): Promise<boolean> {
    const before = this.accepted?.signingCerts ?? [];
    if (!this.running) {
      const nowMs = this.options.clock.now();
      const last = this.lastUnknownKeyRefreshAtMs;
      if (last !== undefined && nowMs - last < UNKNOWN_KEY_REFRESH_INTERVAL_MS) return false;
      this.lastUnknownKeyRefreshAtMs = nowMs;
      this.options.logger.info(
        { connection: this.options.connectionId },
        "a SAML response is signed by an unknown key; refreshing the IdP metadata early",
      );
    }
    await this.refreshNow();
    return !sameCertificates(before, this.accepted?.signingCerts ?? []);
  }

  /** Stops the schedule; a refresh that is running finishes but schedules nothing. */
  close(): void {
    this.closed = true;
    this.scheduled = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAtMs = undefined;
  }

  private async refresh(): Promise<MetadataRefreshResult> {
    let metadata: IdpMetadata;
    let xml: string;
    try {
      ({ metadata, xml } = await this.download());
      if (this.accepted && !sameTrust(this.accepted, metadata)) this.onChange?.(metadata);
    } catch (error) {
      const rejection = asMetadataError(error);
      this.lastRefreshFailed = true;
      this.record(
        rejection.reason,
        { reason: rejection.message, keptCopyExpired: this.acceptedHasExpired() },
        "IdP metadata refresh failed; keeping the copy in use",
      );
      return rejection.reason;
    }
    const changed = this.accepted === undefined || !sameTrust(this.accepted, metadata);
    this.accepted = metadata;
    this.lastRefreshFailed = false;
    await this.writeCache(xml);
    const result = changed ? "updated" : "unchanged";
    this.record(
      result,
      { signingCerts: metadata.signingCerts.length },
      changed ? "IdP metadata updated" : "IdP metadata unchanged",
    );
    this.onAccepted?.();
    return result;
  }

  /** Fetches and checks the document. */
  private async download(): Promise<{ metadata: IdpMetadata; xml: string }> {
    const { xml } = await fetchMetadataDocument(this.options.url);
    return { metadata: this.check(xml), xml };
  }

  /** Parses a document and applies the checks that do not depend on where it came from. */
  private check(xml: string): IdpMetadata {
    const metadata = parseIdpMetadata(xml, this.options.signingCertPem);
    const nowMs = this.options.clock.now();
    if (metadata.validUntilMs !== undefined && metadata.validUntilMs <= nowMs) {
      throw new MetadataError(
        `the metadata expired at ${new Date(metadata.validUntilMs).toISOString()} (validUntil)`,
        "expired",
      );
    }
    const expected = this.accepted?.entityId;
    if (expected !== undefined && metadata.entityId !== expected) {
      throw new MetadataError(
        `the metadata now names entity ${metadata.entityId} instead of ${expected}`,
        "entity_changed",
      );
    }
    return metadata;
  }

  private async readCache(): Promise<{ metadata: IdpMetadata; savedAtMs: number } | undefined> {
    const cache = this.options.cache;
    if (!cache) return undefined;
    try {
      const cached = await cache.read();
      if (!cached) return undefined;
      return { metadata: this.check(cached.xml), savedAtMs: cached.savedAtMs };
    } catch (error) {
      this.options.logger.warn(
        {
          connection: this.options.connectionId,
          file: cache.file,
          reason: (error as Error).message,
        },
        "the disk copy of the IdP metadata is unusable",
      );
      return undefined;
    }
  }

  private async writeCache(xml: string): Promise<void> {
    const cache = this.options.cache;
    if (!cache) return;
    try {
      await cache.write(xml);
    } catch (error) {
      this.options.logger.warn(
        {
          connection: this.options.connectionId,
          file: cache.file,
          reason: (error as Error).message,
        },
        "writing the disk copy of the IdP metadata failed",
      );
    }
  }

  private acceptedHasExpired(): boolean {
    const validUntilMs = this.accepted?.validUntilMs;
    return validUntilMs !== undefined && validUntilMs <= this.options.clock.now();
  }

  private record(result: MetadataRefreshResult, fields: object, message: string): void {
    const connection = this.options.connectionId;
    this.options.metrics.metadataRefreshes.inc({ connection, result });
    const line = { connection, result, ...fields };
    if (result === "updated" || result === "unchanged") this.options.logger.info(line, message);
    else this.options.logger.warn(line, message);
  }

  private scheduleNext(): void {
    if (!this.scheduled || this.closed) return;
    const nowMs = this.options.clock.now();
    const delayMs = nextRefreshDelayMs({
      metadata: this.accepted,
      lastRefreshFailed: this.lastRefreshFailed,
      nowMs,
      bounds: this.options.bounds,
      random: this.options.random ?? Math.random,
    });
    this.dueAtMs = nowMs + delayMs;
    this.arm(delayMs);
  }

  private arm(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimer(), delayMs);
    this.timer.unref();
  }

  /** Refreshes when the injected clock shows the refresh is due, or waits for the rest. */
  private onTimer(): void {
    this.timer = undefined;
    if (this.closed || this.dueAtMs === undefined) return;
    const remainingMs = this.dueAtMs - this.options.clock.now();
    if (remainingMs > 0) {
      this.arm(remainingMs);
      return;
    }
    this.refreshNow().catch((error: unknown) => {
      this.options.logger.error(
        { connection: this.options.connectionId, reason: (error as Error).message },
        "IdP metadata refresh failed unexpectedly",
      );
    });
  }
}

function asMetadataError(error: unknown): MetadataError {
  if (error instanceof MetadataError) return error;
  return new MetadataError((error as Error).message ?? String(error), "invalid");
}

function sameCertificates(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((pem) => b.includes(pem));
}

/** Tells whether two documents give the same entity, endpoints and signing certificates. */
function sameTrust(a: IdpMetadata, b: IdpMetadata): boolean {
  return (
    a.entityId === b.entityId &&
    a.ssoRedirectUrl === b.ssoRedirectUrl &&
    a.sloRedirectUrl === b.sloRedirectUrl &&
    sameCertificates(a.signingCerts, b.signingCerts)
  );
}
