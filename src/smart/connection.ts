import * as client from "openid-client";
import type { ParsedSmartConnection } from "../config/schema.js";
import { SignInError } from "../errors.js";
import type { Connection } from "../http/connection.js";
import type { ServiceContext } from "../http/service.js";
import { buildClientAuth } from "../oidc/client-auth.js";
import { PROVIDER_TIMEOUT_SECONDS } from "../oidc/discovery.js";
import { pathUnderBase, type TransactionScope } from "../oidc/transaction.js";
import { discoverSmartServer, normalizeFhirBase, type SmartServer } from "./discovery.js";

/** A `type: smart` connection: a SMART app registration at one or more allow-listed EHRs. */
export class SmartConnection implements Connection {
  readonly type = "smart" as const;
  readonly id: string;
  readonly displayName: string;
  readonly callbackUrl: string;
  readonly transactionScope: TransactionScope;
  /** Allow-listed FHIR base URLs, without trailing slashes. */
  readonly fhirServers: readonly string[];
  readonly wantsIdToken: boolean;

  private readonly servers = new Map<string, Promise<SmartServer>>();
  private readonly jwksCaches = new Map<string, client.ExportedJWKSCache>();

  constructor(
    readonly config: ParsedSmartConnection,
    readonly svc: ServiceContext,
    private readonly clientAuth: client.ClientAuth,
  ) {
    this.id = config.id;
    this.displayName = config.name ?? config.id;
    this.callbackUrl = `${svc.baseUrl}/smart/${config.id}/callback`;
    this.transactionScope = {
      protocol: "smart",
      connection: config.id,
      cookiePath: pathUnderBase(svc.baseUrl, `/smart/${config.id}`),
      crossSitePost: false,
    };
    this.fhirServers = config.fhirServers.map(normalizeFhirBase);
    this.wantsIdToken = config.scopes.includes("openid");
  }

  loginPath(returnTo: string): string {
    return `/smart/${this.id}/login?returnTo=${encodeURIComponent(returnTo)}`;
  }

  /** Ready once the first FHIR server's smart-configuration loads. */
  async checkReady(): Promise<void> {
    await this.server(this.fhirServers[0] as string);
  }

  /**
   * Returns the allow-listed FHIR base URL equal to `iss` (trailing slashes ignored, otherwise
   * exact), or throws SMART_ISS_NOT_ALLOWED. Nothing is fetched before this check.
   */
  allowedServer(iss: string): string {
    const normalized = normalizeFhirBase(iss);
    const match = this.fhirServers.find((server) => server === normalized);
    if (!match) {
      throw new SignInError("SMART_ISS_NOT_ALLOWED", "The EHR's FHIR server is not allowed for this app.", {
        connection: this.id,
        logDetails: { iss: iss.slice(0, 200) },
      });
    }
    return match;
  }

  /** Returns the cached discovery of an allow-listed server; a failure is retried next time. */
  server(fhirBaseUrl: string): Promise<SmartServer> {
    let pending = this.servers.get(fhirBaseUrl);
    if (!pending) {
      pending = discoverSmartServer(fhirBaseUrl, this.wantsIdToken);
      pending.catch(() => this.servers.delete(fhirBaseUrl));
      this.servers.set(fhirBaseUrl, pending);
    }
    return pending.catch((error: unknown) => {
      if (error instanceof SignInError) {
        throw new SignInError(error.code, error.message, {
          connection: this.id,
          logDetails: error.logDetails,
          cause: error,
        });
      }
      throw error;
    });
  }

  /**
   * Builds an openid-client Configuration for a server whose clock is the injected clock now
   * (openid-client freezes the offset at construction). ID token signatures are verified.
   */
  configuration(server: SmartServer): client.Configuration {
    const offsetSeconds = Math.round((this.svc.clock.now() - Date.now()) / 1000);
    const configuration = new client.Configuration(
      server.metadata,
      this.config.clientId,
      {
        [client.clockSkew]: offsetSeconds,
        [client.clockTolerance]: Math.max(0, Math.round(this.config.clockSkew / 1000)),
      },
      this.clientAuth,
    );
    configuration.timeout = PROVIDER_TIMEOUT_SECONDS;
    client.enableNonRepudiationChecks(configuration);
    if (server.allowInsecure) client.allowInsecureRequests(configuration);
    const cache = this.jwksCaches.get(server.fhirBaseUrl);
    if (cache) client.setJwksCache(configuration, cache);
    return configuration;
  }

  /** Keeps the keys a Configuration fetched, for the next request to that server. */
  saveKeys(server: SmartServer, configuration: client.Configuration): void {
    const cache = client.getJwksCache(configuration);
    if (cache) this.jwksCaches.set(server.fhirBaseUrl, cache);
  }
}

/** Creates a `type: smart` connection; smart-configuration documents load on first use. */
export async function createSmartConnection(
  config: ParsedSmartConnection,
  svc: ServiceContext,
): Promise<Connection> {
  const clientAuth = await buildClientAuth(config, svc.config.configDir);
  return new SmartConnection(config, svc, clientAuth);
}
