import { createServer, type IncomingMessage, type Server } from "node:http";
import { SignJWT, exportJWK, generateKeyPair, type JWK } from "jose";

/** Private key type that jose 6 signs with (WebCrypto CryptoKey). */
type KeyLike = Parameters<SignJWT["sign"]>[0];
import type { AddressInfo } from "node:net";

/** One request that reached the revocation endpoint. */
export interface RevocationRecord {
  authorization: string | undefined;
  form: URLSearchParams;
}

/**
 * A SMART authorization server on loopback: its smart-configuration advertises a
 * `revocation_endpoint` and a JWKS, the authorization endpoint redirects straight back with a
 * code, the token endpoint issues fixed tokens with a patient and a signed ID token, and the
 * revocation endpoint records what it receives.
 */
export class RogueEhr {
  server!: Server;
  base = "";
  readonly accessToken = "ehr-access-token-7f3a9c";
  readonly refreshToken = "ehr-refresh-token-2b8e41";
  revocations: RevocationRecord[] = [];
  /** HTTP status of the revocation endpoint; 200 per RFC 7009. */
  revocationStatus = 200;
  /** Whether the smart-configuration advertises the revocation endpoint. */
  advertiseRevocation = true;

  get fhirBase(): string {
    return `${this.base}/fhir`;
  }

  private signingKey: KeyLike | undefined;
  private publicJwk: JWK | undefined;
  /** Current time in milliseconds for the ID token's iat and exp; tests pass their fake clock. */
  now: () => number = () => Date.now();
  /** Nonce of the last authorization request, echoed in the ID token. */
  private nonce = "";

  async start(): Promise<this> {
    const pair = await generateKeyPair("RS256");
    this.signingKey = pair.privateKey;
    this.publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "ehr-key-1", alg: "RS256" };
    this.server = createServer((req, res) => {
      this.handle(req)
        .then(({ status, headers, body }) => {
          res.writeHead(status, headers);
          res.end(body);
        })
        .catch((error: Error) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(error.message);
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

  private json(body: unknown, status = 200) {
    return {
      status,
      headers: { "content-type": "application/json", "cache-control": "no-store" },
      body: JSON.stringify(body),
    };
  }

  private async readForm(req: IncomingMessage): Promise<URLSearchParams> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
  }

  private async handle(req: IncomingMessage) {
    const url = new URL(req.url ?? "/", this.base);
    if (url.pathname === "/fhir/.well-known/smart-configuration") {
      return this.json({
        issuer: `${this.base}/oauth2`,
        authorization_endpoint: `${this.base}/oauth2/authorize`,
        token_endpoint: `${this.base}/oauth2/token`,
        jwks_uri: `${this.base}/oauth2/jwks`,
        ...(this.advertiseRevocation ? { revocation_endpoint: `${this.base}/oauth2/revoke` } : {}),
        token_endpoint_auth_methods_supported: ["client_secret_basic"],
        code_challenge_methods_supported: ["S256"],
        capabilities: ["launch-standalone", "client-confidential-symmetric", "sso-openid-connect"],
      });
    }
    if (url.pathname === "/oauth2/jwks") {
      return this.json({ keys: [this.publicJwk] });
    }
    if (url.pathname === "/oauth2/authorize") {
      this.nonce = url.searchParams.get("nonce") ?? "";
      const back = new URL(url.searchParams.get("redirect_uri") ?? "");
      back.searchParams.set("code", "ehr-code");
      back.searchParams.set("state", url.searchParams.get("state") ?? "");
      return { status: 302, headers: { location: back.href }, body: "" };
    }
    if (url.pathname === "/oauth2/token" && req.method === "POST") {
      await this.readForm(req);
      const basic = Buffer.from((req.headers.authorization ?? "").replace(/^Basic /, ""), "base64")
        .toString("utf8")
        .split(":")[0];
      const idToken = await new SignJWT({
        nonce: this.nonce,
        fhirUser: `${this.fhirBase}/Practitioner/p1`,
      })
        .setProtectedHeader({ alg: "RS256", kid: "ehr-key-1" })
        .setIssuer(`${this.base}/oauth2`)
        .setAudience(decodeURIComponent(basic ?? ""))
        .setSubject("practitioner-p1")
        .setIssuedAt(Math.floor(this.now() / 1000))
        .setExpirationTime(Math.floor(this.now() / 1000) + 300)
        .sign(this.signingKey as KeyLike);
      return this.json({
        id_token: idToken,
        access_token: this.accessToken,
        refresh_token: this.refreshToken,
        token_type: "Bearer",
        expires_in: 3600,
        scope: "launch/patient patient/*.rs offline_access",
        patient: "patient-123",
      });
    }
    if (url.pathname === "/oauth2/revoke" && req.method === "POST") {
      this.revocations.push({
        authorization: req.headers.authorization,
        form: await this.readForm(req),
      });
      return this.revocationStatus === 200
        ? { status: 200, headers: {}, body: "" }
        : this.json({ error: "temporarily_unavailable" }, this.revocationStatus);
    }
    return { status: 404, headers: { "content-type": "text/plain" }, body: "not found" };
  }
}
