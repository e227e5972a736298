import path from "node:path";
import type Koa from "koa";
import { ConfigError } from "../errors.js";
import { measureSignIn } from "../http/outcome.js";
import type { SAML } from "@node-saml/node-saml";
import type { ParsedSamlConnection } from "../config/schema.js";
import type { Connection } from "../http/connection.js";
import { safeReturnTo } from "../http/return-to.js";
import type { ServiceContext } from "../http/service.js";
import type { SessionRecord } from "../session/session.js";
import { buildAuthnRequestUrl, newMessageId } from "./authn-request.js";
import { handleAcs } from "./acs.js";
import { trackCertificateExpiry, untrackCertificateExpiry } from "./certificate-expiry.js";
import { MetadataError } from "./idp-metadata.js";
import { DEFAULT_METADATA_CACHE_DIR, MetadataDiskCache } from "./metadata-cache.js";
import { IdpMetadataSource } from "./metadata-source.js";
import { handleSlo, startIdpLogout } from "./logout.js";
import { ensureBrowserBinding, saveOutstandingRequest } from "./request-state.js";
import {
  connectionKey,
  loadSamlSettings,
  metadataConfigError,
  readMetadataSigningCert,
  withIdpMetadata,
  type SamlSettings,
} from "./settings.js";
import { buildSpMetadata } from "./sp-metadata.js";
import {
  createSignatureVerifier,
  isUnknownSigningKeyError,
  type ValidatedResponse,
} from "./validate-response.js";
import { samlValidatorFor } from "./worker-pool.js";

/** Creates the metadata source of idp.metadataUrl, or returns undefined for other setups. */
function createMetadataSource(
  config: ParsedSamlConnection,
  svc: ServiceContext,
): IdpMetadataSource | undefined {
  const idp = config.idp;
  if (idp.metadataUrl === undefined) return undefined;
  if (idp.metadataRefreshMinInterval > idp.metadataRefreshMaxInterval) {
    const key = connectionKey(config, svc.config);
    throw new ConfigError([
      `${key}.idp.metadataRefreshMinInterval: must not be longer than metadataRefreshMaxInterval; shorten it or raise the maximum`,
    ]);
  }
  const cacheDir = path.resolve(
    svc.config.configDir,
    idp.metadataCacheDir ?? DEFAULT_METADATA_CACHE_DIR,
  );
  const signingCertPem = readMetadataSigningCert(config, svc);
  return new IdpMetadataSource({
    connectionId: config.id,
    url: idp.metadataUrl,
    ...(signingCertPem !== undefined ? { signingCertPem } : {}),
    cache: new MetadataDiskCache(cacheDir, config.id),
    bounds: {
      minIntervalMs: idp.metadataRefreshMinInterval,
      maxIntervalMs: idp.metadataRefreshMaxInterval,
    },
    clock: svc.clock,
    logger: svc.logger,
    metrics: svc.metrics,
  });
}

/** A `type: saml` connection: SP metadata, AuthnRequest, ACS and single logout. */
export class SamlConnection implements Connection {
  readonly type = "saml" as const;
  readonly id: string;
  readonly displayName: string;
  private currentSettings: SamlSettings;
  private verifier: SAML;

  private constructor(
    readonly config: ParsedSamlConnection,
    settings: SamlSettings,
    private readonly svc: ServiceContext,
    /** The refreshing source of idp.metadataUrl; undefined for metadataFile or manual setup. */
    readonly metadataSource: IdpMetadataSource | undefined,
  ) {
    this.id = config.id;
    this.displayName = config.name ?? config.id;
    this.currentSettings = settings;
    this.verifier = createSignatureVerifier(settings);
    metadataSource?.setHandlers({
      change: (metadata) =>
        this.replaceSettings(withIdpMetadata(this.currentSettings, config, metadata)),
      accepted: () => trackCertificateExpiry(svc, this.currentSettings),
    });
  }

  /**
   * Loads keys, certificates and IdP metadata, and starts the metadata refresh schedule;
   * throws ConfigError when any is unusable.
   */
  static async create(config: ParsedSamlConnection, svc: ServiceContext): Promise<SamlConnection> {
    const source = createMetadataSource(config, svc);
    let urlMetadata;
    if (source) {
      try {
        urlMetadata = await source.load();
      } catch (error) {
        if (error instanceof MetadataError) throw metadataConfigError(config, svc, error);
        throw error;
      }
    }
    const connection = new SamlConnection(
      config,
      loadSamlSettings(config, svc, urlMetadata),
      svc,
      source,
    );
    trackCertificateExpiry(svc, connection.settings);
    source?.startSchedule();
    return connection;
  }

  /**
   * The current settings. A metadata refresh replaces the whole object (never mutates it), so
   * read this once per request and pass that snapshot along.
   */
  get settings(): SamlSettings {
    return this.currentSettings;
  }

  private replaceSettings(settings: SamlSettings): void {
    this.currentSettings = settings;
    this.verifier = createSignatureVerifier(settings);
  }

  /**
   * Validates a response with the current trusted certificates. When the signature does not
   * verify and the response names a signing certificate we do not trust, the metadata is
   * refreshed early (rate-limited, see IdpMetadataSource) and, if the trusted certificates
   * changed, the response is validated once more.
   */
  private async validate(samlResponse: string, nowMs: number): Promise<ValidatedResponse> {
    try {
      return await this.validateOnce(samlResponse, nowMs);
    } catch (error) {
      if (!this.metadataSource || !isUnknownSigningKeyError(error)) throw error;
      if (!(await this.metadataSource.refreshForUnknownKey())) throw error;
      return this.validateOnce(samlResponse, nowMs);
    }
  }

  private validateOnce(samlResponse: string, nowMs: number): Promise<ValidatedResponse> {
    return samlValidatorFor(this.svc).validate(this.settings, this.verifier, samlResponse, nowMs);
  }

  async close(): Promise<void> {
    this.metadataSource?.close();
    untrackCertificateExpiry(this.svc, this.id);
  }

  loginPath(returnTo: string): string {
    return `/saml/${this.id}/login?returnTo=${encodeURIComponent(returnTo)}`;
  }

  async checkReady(): Promise<void> {
    // Settings load the metadata before the connection exists, so a built connection is ready.
    if (this.settings.idpCerts.length === 0)
      throw new Error("IdP signing certificates are not loaded");
  }

  startIdpLogout(_ctx: Koa.Context, record: SessionRecord): Promise<string | undefined> {
    return startIdpLogout(this.svc, this.settings, record);
  }

  /** Serves `GET /saml/:id/metadata`. */
  metadata(ctx: Koa.Context): void {
    ctx.set("Cache-Control", "no-cache");
    ctx.type = "application/samlmetadata+xml";
    ctx.body = buildSpMetadata(this.settings);
  }

  /** Serves `GET /saml/:id/login`: stores the request, binds it to this browser, redirects. */
  async login(ctx: Koa.Context): Promise<void> {
    const requestId = newMessageId(this.svc.ids);
    const browserBinding = ensureBrowserBinding(ctx, this.svc, this.settings);
    await saveOutstandingRequest(this.svc, this.settings, {
      requestId,
      returnTo: safeReturnTo(ctx.query.returnTo),
      browserBinding,
      createdAt: this.svc.clock.now(),
    });
    ctx.set("Cache-Control", "no-store");
    ctx.status = 302;
    ctx.redirect(buildAuthnRequestUrl(this.settings, requestId, requestId, this.svc.clock));
  }

  /** Serves `POST /saml/:id/acs`, recording the outcome in metrics and the audit log. */
  acs(ctx: Koa.Context): Promise<void> {
    return measureSignIn(ctx, this.svc, { connection: this.id, protocol: "saml" }, () =>
      handleAcs(ctx, this.svc, this.config, this.settings, (samlResponse, nowMs) =>
        this.validate(samlResponse, nowMs),
      ),
    );
  }

  /** Serves `GET|POST /saml/:id/slo`. */
  slo(ctx: Koa.Context): Promise<void> {
    return handleSlo(ctx, this.svc, this.settings);
  }
}
