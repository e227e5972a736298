import type Koa from "koa";
import { measureSignIn } from "../http/outcome.js";
import type { SAML } from "@node-saml/node-saml";
import type { ParsedSamlConnection } from "../config/schema.js";
import type { Connection } from "../http/connection.js";
import { safeReturnTo } from "../http/return-to.js";
import type { ServiceContext } from "../http/service.js";
import type { SessionRecord } from "../session/session.js";
import { buildAuthnRequestUrl, newMessageId } from "./authn-request.js";
import { handleAcs } from "./acs.js";
import { handleSlo, startIdpLogout } from "./logout.js";
import { ensureBrowserBinding, saveOutstandingRequest } from "./request-state.js";
import { loadSamlSettings, type SamlSettings } from "./settings.js";
import { buildSpMetadata } from "./sp-metadata.js";
import { createSignatureVerifier } from "./validate-response.js";

/** A `type: saml` connection: SP metadata, AuthnRequest, ACS and single logout. */
export class SamlConnection implements Connection {
  readonly type = "saml" as const;
  readonly id: string;
  readonly displayName: string;
  private readonly verifier: SAML;

  private constructor(
    readonly config: ParsedSamlConnection,
    readonly settings: SamlSettings,
    private readonly svc: ServiceContext,
  ) {
    this.id = config.id;
    this.displayName = config.name ?? config.id;
    this.verifier = createSignatureVerifier(settings);
  }

  /** Loads keys, certificates and IdP metadata; throws ConfigError when any is unusable. */
  static async create(config: ParsedSamlConnection, svc: ServiceContext): Promise<SamlConnection> {
    return new SamlConnection(config, await loadSamlSettings(config, svc), svc);
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
      handleAcs(ctx, this.svc, this.config, this.settings, this.verifier),
    );
  }

  /** Serves `GET|POST /saml/:id/slo`. */
  slo(ctx: Koa.Context): Promise<void> {
    return handleSlo(ctx, this.svc, this.settings);
  }
}
