import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair, jwtVerify, importJWK, type JWK } from "jose";

/** Options of {@link RogueProvider}. */
export interface RogueProviderOptions {
  /** Base URL written into the discovery document (default: the loopback URL). */
  publicBase?: string;
  /** `issuer` of the discovery document (default: publicBase + prefix). */
  issuer?: string;
  /** Path prefix of every endpoint, e.g. "/organizations/v2.0". */
  prefix?: string;
  clientId: string;
  /** Current time in milliseconds (the test's fake clock). */
  now: () => number;
  authorizationResponseIssParameterSupported?: boolean;
  /**
   * FHIR base path, such as "/fhir": serves `{fhirPath}/.well-known/smart-configuration`, whose
   * `issuer` is the OAuth issuer (publicBase + prefix), like Epic.
   */
  fhirPath?: string;
  /** Rejects a token request whose `code_verifier` does not match the last `code_challenge`. */
  requirePkce?: boolean;
}

/** What the token endpoint saw of the client's authentication. */
export interface TokenRequestRecord {
  authorization?: string;
  form: URLSearchParams;
}

type ClaimsMutator = (claims: Record<string, unknown>) => void;

/**
 * A tiny OpenID provider (or SMART EHR) on loopback whose ID tokens each test shapes (claims,
 * header, key), so one test breaks exactly one rule. It serves discovery, JWKS, an authorization
 * endpoint that redirects straight back with a code, and a token endpoint. Endpoints match by
 * their last path segment (`/keys`, `/authorize`, `/token`), so Entra's paths such as
 * `/common/discovery/v2.0/keys` work too.
 */
export class RogueProvider {
  server!: Server;
  base = "";
  signingKey!: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  publicJwk!: JWK;
  readonly kid = "rogue-key-1";
  /** Changes the claims of the next ID tokens. */
  mutateClaims: ClaimsMutator = () => {};
  /** Replaces the whole ID token (for unsigned or HMAC tokens). */
  forgeIdToken: ((claims: Record<string, unknown>) => Promise<string>) | undefined;
  /** Extra parameters added to the redirect back to the client (e.g. a wrong `iss`). */
  extraRedirectParams: Record<string, string> = {};
  /** A JSON error body for the token endpoint instead of tokens. */
  tokenError: Record<string, string> | undefined;
  tokenRequests: TokenRequestRecord[] = [];
  jwksRequests = 0;
  /** Public keys served at the JWKS endpoint. */
  jwks: JWK[] = [];
  /** Nonce of the last authorization request. */
  lastNonce: string | undefined;
  /** Query of the last authorization request. */
  lastAuthorizationRequest: URLSearchParams | undefined;
  /**
   * Replaces the built-in discovery document. It gets the request path, such as
   * "/organizations/v2.0/.well-known/openid-configuration".
   */
  discoveryDocument: ((path: string) => Record<string, unknown>) | undefined;
  /** Extra members of the token response, such as SMART's `patient`. */
  extraTokenFields: Record<string, unknown> = {};

  constructor(readonly options: RogueProviderOptions) {}

  get publicBase(): string {
    return this.options.publicBase ?? this.base;
  }

  get prefix(): string {
    return this.options.prefix ?? "";
  }

  get issuer(): string {
    return this.options.issuer ?? `${this.publicBase}${this.prefix}`;
  }

  async start(): Promise<this> {
    const { privateKey, publicKey } = await generateKeyPair("RS256");
    this.signingKey = privateKey;
    this.publicJwk = { ...(await exportJWK(publicKey)), kid: this.kid, use: "sig", alg: "RS256" };
    this.jwks = [this.publicJwk];
    this.server = createServer((req, res) => {
      this.handle(req)
        .then(({ status, headers, body }) => {
          res.writeHead(status, headers);
          res.end(body);
        })
        .catch((error: Error) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(error.stack);
        });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Default claims of a valid ID token for the last authorization request. */
  defaultClaims(): Record<string, unknown> {
    const nowSeconds = Math.floor(this.options.now() / 1000);
    return {
      iss: this.issuer,
      aud: this.options.clientId,
      sub: "pairwise-subject-1",
      nonce: this.lastNonce,
      iat: nowSeconds,
      exp: nowSeconds + 300,
      tid: "6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c",
      oid: "a1111111-1111-4111-8111-111111111111",
      preferred_username: "alice@example.org",
    };
  }

  /** Signs claims with the provider's key (or `key`/`kid` when given). */
  async sign(
    claims: Record<string, unknown>,
    key = this.signingKey,
    kid = this.kid,
  ): Promise<string> {
    return new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid, typ: "JWT" }).sign(key);
  }

  private json(body: unknown, status = 200) {
    return {
      status,
      headers: { "content-type": "application/json", "cache-control": "no-store" },
      body: JSON.stringify(body),
    };
  }

  private async handle(req: IncomingMessage) {
    const url = new URL(req.url ?? "/", this.base);
    const path = url.pathname.startsWith(this.prefix)
      ? url.pathname.slice(this.prefix.length)
      : url.pathname;
    const endpoint = `${this.publicBase}${this.prefix}`;
    const fhirPath = this.options.fhirPath;
    if (fhirPath !== undefined && url.pathname === `${fhirPath}/.well-known/smart-configuration`) {
      return this.json({
        issuer: this.issuer,
        jwks_uri: `${endpoint}/keys`,
        authorization_endpoint: `${endpoint}/authorize`,
        token_endpoint: `${endpoint}/token`,
        token_endpoint_auth_methods_supported: ["client_secret_basic", "none"],
        response_types_supported: ["code"],
        code_challenge_methods_supported: ["S256"],
        capabilities: [
          "launch-ehr",
          "client-public",
          "client-confidential-symmetric",
          "sso-openid-connect",
        ],
      });
    }
    if (path.endsWith("/.well-known/openid-configuration")) {
      if (this.discoveryDocument) return this.json(this.discoveryDocument(url.pathname));
      return this.json({
        issuer: this.issuer,
        authorization_endpoint: `${endpoint}/authorize`,
        token_endpoint: `${endpoint}/token`,
        jwks_uri: `${endpoint}/keys`,
        response_types_supported: ["code"],
        response_modes_supported: ["query", "form_post"],
        subject_types_supported: ["pairwise"],
        id_token_signing_alg_values_supported: ["RS256", "HS256", "none"],
        token_endpoint_auth_methods_supported: [
          "client_secret_basic",
          "client_secret_post",
          "private_key_jwt",
        ],
        ...(this.options.authorizationResponseIssParameterSupported
          ? { authorization_response_iss_parameter_supported: true }
          : {}),
      });
    }
    if (path.endsWith("/keys")) {
      this.jwksRequests += 1;
      return this.json({ keys: this.jwks });
    }
    if (path.endsWith("/authorize")) {
      this.lastNonce = url.searchParams.get("nonce") ?? undefined;
      this.lastAuthorizationRequest = url.searchParams;
      const back = new URL(url.searchParams.get("redirect_uri") ?? "");
      back.searchParams.set("code", "rogue-code");
      back.searchParams.set("state", url.searchParams.get("state") ?? "");
      for (const [name, value] of Object.entries(this.extraRedirectParams)) {
        back.searchParams.set(name, value);
      }
      return { status: 302, headers: { location: back.href }, body: "" };
    }
    if (path.endsWith("/token") && req.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
      this.tokenRequests.push({ authorization: req.headers.authorization, form });
      if (this.tokenError) return this.json(this.tokenError, 400);
      if (this.options.requirePkce && !this.pkceMatches(form.get("code_verifier"))) {
        return this.json(
          { error: "invalid_grant", error_description: "code_verifier mismatch" },
          400,
        );
      }
      const claims = this.defaultClaims();
      this.mutateClaims(claims);
      const idToken = this.forgeIdToken ? await this.forgeIdToken(claims) : await this.sign(claims);
      return this.json({
        access_token: "rogue-access-token",
        refresh_token: "rogue-refresh-token",
        token_type: "Bearer",
        expires_in: 3600,
        id_token: idToken,
        ...this.extraTokenFields,
      });
    }
    return { status: 404, headers: { "content-type": "text/plain" }, body: "not found" };
  }

  private pkceMatches(verifier: string | null): boolean {
    const challenge = this.lastAuthorizationRequest?.get("code_challenge");
    if (!verifier || !challenge) return false;
    return createHash("sha256").update(verifier).digest("base64url") === challenge;
  }

  /** Verifies a private_key_jwt client assertion against `publicJwk` and returns its claims. */
  static async verifyAssertion(
    assertion: string,
    publicJwk: JWK,
    nowMs: number,
  ): Promise<Record<string, unknown>> {
    const key = await importJWK(publicJwk, publicJwk.alg);
    const { payload } = await jwtVerify(assertion, key, { currentDate: new Date(nowMs) });
    return payload as Record<string, unknown>;
  }
}
