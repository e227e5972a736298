import * as client from "openid-client";
import type { Clock } from "../clock.js";
import { isLoopbackUrl } from "../config/load.js";
import { SignInError } from "../errors.js";

/** JWS algorithms accepted for ID tokens: asymmetric only, never `none` or HMAC. */
export const ASYMMETRIC_ALGORITHMS = new Set([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
]);

/** Timeout of every request to the provider, in seconds. */
export const PROVIDER_TIMEOUT_SECONDS = 10;

/** A provider's discovery document, fetched once and reused for every request. */
export interface ProviderMetadata {
  /** The configured issuer URL that discovery started from. */
  issuerUrl: URL;
  /** Discovery document URL, served from memory by {@link ClientFactory}. */
  discoveryUrl: string;
  /** The document with `id_token_signing_alg_values_supported` cut to asymmetric algorithms. */
  document: Record<string, unknown>;
  /** True for loopback http providers (development and tests). */
  allowInsecure: boolean;
}

/** Per-connection settings that every {@link client.Configuration} gets. */
export interface ClientSettings {
  clientId: string;
  clientAuth: client.ClientAuth;
  /** Allowed clock difference for `exp`, `nbf` and `iat`, in milliseconds. */
  clockSkewMs: number;
  clock: Clock;
}

/** Returns the well-known OpenID configuration URL of an issuer. */
export function discoveryUrlOf(issuer: URL): string {
  return `${issuer.href.replace(/\/+$/, "")}/.well-known/openid-configuration`;
}

/** Keeps only the asymmetric algorithms the provider advertises, and throws when none remain. */
export function restrictSigningAlgorithms(
  document: Record<string, unknown>,
  issuer: string,
): string[] {
  const advertised = document.id_token_signing_alg_values_supported;
  const list = Array.isArray(advertised)
    ? advertised.filter((alg) => typeof alg === "string")
    : ["RS256"];
  const accepted = list.filter((alg) => ASYMMETRIC_ALGORITHMS.has(alg));
  if (accepted.length === 0) {
    throw new SignInError(
      "OIDC_DISCOVERY_FAILED",
      `The provider ${issuer} advertises no asymmetric ID token signing algorithm.`,
      { fix: "Configure the provider to sign ID tokens with RS256 or ES256." },
    );
  }
  return accepted;
}

/**
 * Fetches and checks an OpenID provider's discovery document. Plain http is allowed only for
 * loopback issuers. openid-client checks that the document's issuer equals the URL it came
 * from, except for Entra (`login.microsoftonline.com`), where a `{tenantid}` template is
 * accepted and later resolved from each ID token's `tid`.
 */
export async function discoverProvider(
  issuer: string,
  clientId: string,
  fetchImplementation: client.CustomFetch | undefined,
): Promise<ProviderMetadata> {
  const issuerUrl = new URL(issuer);
  const allowInsecure = issuerUrl.protocol === "http:" && isLoopbackUrl(issuer);
  try {
    const configuration = await client.discovery(issuerUrl, clientId, undefined, undefined, {
      execute: allowInsecure ? [client.allowInsecureRequests] : [],
      timeout: PROVIDER_TIMEOUT_SECONDS,
      ...(fetchImplementation ? { [client.customFetch]: fetchImplementation } : {}),
    });
    const document = { ...configuration.serverMetadata() } as Record<string, unknown>;
    document.id_token_signing_alg_values_supported = restrictSigningAlgorithms(document, issuer);
    return { issuerUrl, discoveryUrl: discoveryUrlOf(issuerUrl), document, allowInsecure };
  } catch (error) {
    if (error instanceof SignInError) throw error;
    throw new SignInError(
      "OIDC_DISCOVERY_FAILED",
      `Discovery of the OpenID provider ${issuer} failed.`,
      {
        cause: error,
        logDetails: { issuer, reason: (error as Error).message },
      },
    );
  }
}

/**
 * Builds openid-client Configurations for one provider. openid-client freezes the clock offset
 * (`clockSkew`) when a Configuration is built, so a new Configuration is built whenever the
 * injected clock's offset from the system clock changes, with an offset that makes the
 * library's "now" equal the injected clock. Discovery is replayed from memory,
 * which keeps openid-client's Entra `{tenantid}` issuer handling. The JWKS cache is carried
 * from one Configuration to the next, so keys are not refetched per request.
 */
export class ClientFactory {
  private jwksCache: client.ExportedJWKSCache | undefined;
  /**
   * The last Configuration and the clock offset it was built for. Building one replays
   * discovery, which costs about as much CPU as the code exchange itself, so a Configuration is
   * reused while the offset is unchanged (always, with the system clock).
   */
  private cached: { offsetSeconds: number; configuration: client.Configuration } | undefined;

  constructor(
    private readonly metadata: ProviderMetadata,
    private readonly settings: ClientSettings,
    private readonly fetchImplementation: client.CustomFetch | undefined,
  ) {}

  get serverMetadata(): Record<string, unknown> {
    return this.metadata.document;
  }

  /** Builds a Configuration whose clock is the injected clock at this moment. */
  async create(): Promise<client.Configuration> {
    const metadata = this.metadata;
    const settings = this.settings;
    const offsetSeconds = Math.round((settings.clock.now() - Date.now()) / 1000);
    if (this.cached?.offsetSeconds === offsetSeconds) return this.cached.configuration;
    const toleranceSeconds = Math.max(0, Math.round(settings.clockSkewMs / 1000));
    const documentText = JSON.stringify(metadata.document);
    const baseFetch = this.fetchImplementation ?? ((url, options) => fetch(url, options));
    const replayingFetch: client.CustomFetch = async (url, options) => {
      if (url === metadata.discoveryUrl && options.method === "GET") {
        return new Response(documentText, { headers: { "content-type": "application/json" } });
      }
      return baseFetch(url, options);
    };
    const configuration = await client.discovery(
      metadata.issuerUrl,
      settings.clientId,
      { [client.clockSkew]: offsetSeconds, [client.clockTolerance]: toleranceSeconds },
      settings.clientAuth,
      {
        // openid-client skips the ID token signature check for token endpoint responses, because
        // OpenID Connect Core 3.1.3.7 allows relying on TLS there. enableNonRepudiationChecks
        // turns the check on.
        execute: [
          client.enableNonRepudiationChecks,
          ...(metadata.allowInsecure ? [client.allowInsecureRequests] : []),
        ],
        timeout: PROVIDER_TIMEOUT_SECONDS,
        [client.customFetch]: replayingFetch,
      },
    );
    if (this.jwksCache) client.setJwksCache(configuration, this.jwksCache);
    this.cached = { offsetSeconds, configuration };
    return configuration;
  }

  /** Keeps the keys a Configuration fetched, for the next one. */
  saveKeys(configuration: client.Configuration): void {
    const cache = client.getJwksCache(configuration);
    if (cache) this.jwksCache = cache;
  }
}
