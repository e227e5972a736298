import type Koa from "koa";
import * as client from "openid-client";
import type { ParsedOidcConnection } from "../config/schema.js";
import { SignInError } from "../errors.js";
import type { Connection } from "../http/connection.js";
import type { ServiceContext } from "../http/service.js";
import type { SessionRecord } from "../session/session.js";
import { buildClientAuth } from "./client-auth.js";
import { ClientFactory, discoverProvider } from "./discovery.js";
import { pathUnderBase, type TransactionScope } from "./transaction.js";

/** Minimum time between two discovery attempts after a failure, in milliseconds. */
const DISCOVERY_RETRY_MS = 30_000;

/** A `type: oidc` connection: one OpenID provider and our client registration there. */
export class OidcConnection implements Connection {
  readonly type = "oidc" as const;
  readonly id: string;
  readonly displayName: string;
  /** Our redirect URI at the provider. */
  readonly callbackUrl: string;
  readonly transactionScope: TransactionScope;

  private factory: ClientFactory | undefined;
  /** Configuration used to build authorization and end-session URLs (no clock involved). */
  private urlConfiguration: client.Configuration | undefined;
  private pending: Promise<ClientFactory> | undefined;
  private lastFailure: { at: number; error: SignInError } | undefined;

  constructor(
    readonly config: ParsedOidcConnection,
    readonly svc: ServiceContext,
    private readonly clientAuth: client.ClientAuth,
  ) {
    this.id = config.id;
    this.displayName = config.name ?? config.id;
    this.callbackUrl = `${svc.baseUrl}/oidc/${config.id}/callback`;
    this.transactionScope = {
      protocol: "oidc",
      connection: config.id,
      cookiePath: pathUnderBase(svc.baseUrl, `/oidc/${config.id}`),
      crossSitePost: config.responseMode === "form_post",
    };
  }

  loginPath(returnTo: string): string {
    return `/oidc/${this.id}/login?returnTo=${encodeURIComponent(returnTo)}`;
  }

  async checkReady(): Promise<void> {
    await this.clientFactory();
  }

  /**
   * Returns the discovered provider's client factory, discovering on first use. After a
   * failure, discovery is retried at most every 30 seconds, and requests in between get the
   * same error.
   */
  async clientFactory(): Promise<ClientFactory> {
    if (this.factory) return this.factory;
    if (this.pending) return this.pending;
    const failure = this.lastFailure;
    if (failure && this.svc.clock.now() - failure.at < DISCOVERY_RETRY_MS) throw failure.error;
    this.pending = this.discover().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async discover(): Promise<ClientFactory> {
    try {
      const metadata = await discoverProvider(
        this.config.issuer,
        this.config.clientId,
        this.svc.fetch,
      );
      const factory = new ClientFactory(
        metadata,
        {
          clientId: this.config.clientId,
          clientAuth: this.clientAuth,
          clockSkewMs: this.config.clockSkew,
          clock: this.svc.clock,
        },
        this.svc.fetch,
      );
      this.urlConfiguration = await factory.create();
      this.factory = factory;
      this.lastFailure = undefined;
      return factory;
    } catch (error) {
      const coded =
        error instanceof SignInError
          ? error
          : new SignInError("OIDC_DISCOVERY_FAILED", "OpenID provider discovery failed.", {
              cause: error,
            });
      const withConnection = new SignInError(coded.code, coded.message, {
        connection: this.id,
        fix: coded.fix,
        logDetails: coded.logDetails,
        cause: coded,
      });
      this.lastFailure = { at: this.svc.clock.now(), error: withConnection };
      throw withConnection;
    }
  }

  /** Builds the authorization request URL (code flow, PKCE S256, state, nonce). */
  async authorizationUrl(input: {
    state: string;
    nonce: string;
    codeVerifier: string;
  }): Promise<URL> {
    await this.clientFactory();
    const configuration = this.urlConfiguration as client.Configuration;
    const parameters: Record<string, string> = {
      redirect_uri: this.callbackUrl,
      scope: this.config.scopes.join(" "),
      state: input.state,
      nonce: input.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(input.codeVerifier),
      code_challenge_method: "S256",
    };
    if (this.config.responseMode === "form_post") parameters.response_mode = "form_post";
    if (this.config.prompt) parameters.prompt = this.config.prompt;
    return client.buildAuthorizationUrl(configuration, parameters);
  }

  /**
   * Returns the provider's end_session_endpoint URL with `id_token_hint` and
   * `post_logout_redirect_uri`, or undefined when the provider advertises none.
   */
  async startIdpLogout(_ctx: Koa.Context, record: SessionRecord): Promise<string | undefined> {
    let factory: ClientFactory;
    try {
      factory = await this.clientFactory();
    } catch {
      return undefined;
    }
    if (typeof factory.serverMetadata.end_session_endpoint !== "string") return undefined;
    const parameters: Record<string, string> = {
      post_logout_redirect_uri: `${this.svc.baseUrl}/`,
      client_id: this.config.clientId,
    };
    if (record.idp?.idToken) parameters.id_token_hint = record.idp.idToken;
    return client.buildEndSessionUrl(this.urlConfiguration as client.Configuration, parameters)
      .href;
  }
}

/** Creates a `type: oidc` connection and starts discovery; a failure is retried on first use. */
export async function createOidcConnection(
  config: ParsedOidcConnection,
  svc: ServiceContext,
): Promise<Connection> {
  const clientAuth = await buildClientAuth(config, svc.config.configDir);
  const connection = new OidcConnection(config, svc, clientAuth);
  try {
    await connection.clientFactory();
  } catch (error) {
    svc.logger.warn(
      { connection: config.id, code: (error as SignInError).code, issuer: config.issuer },
      "OpenID provider discovery failed at start; it is retried when a sign-in starts",
    );
  }
  return connection;
}
