import { createPrivateKey } from "node:crypto";
import { importPKCS8 } from "jose";
import * as client from "openid-client";
import { ConfigError } from "../errors.js";
import { readPem } from "../config/load.js";

/** The client authentication settings shared by `type: oidc` and `type: smart` connections. */
export interface ClientAuthSettings {
  id: string;
  clientSecret?: string;
  privateKeyFile?: string;
  tokenEndpointAuthMethod?: "client_secret_basic" | "client_secret_post" | "private_key_jwt" | "none";
}

export type TokenEndpointAuthMethod = NonNullable<ClientAuthSettings["tokenEndpointAuthMethod"]>;

/** Picks the method: the configured one, else by which credential is set. */
export function chooseAuthMethod(settings: ClientAuthSettings): TokenEndpointAuthMethod {
  if (settings.tokenEndpointAuthMethod) return settings.tokenEndpointAuthMethod;
  if (settings.privateKeyFile) return "private_key_jwt";
  if (settings.clientSecret) return "client_secret_basic";
  return "none";
}

/**
 * Builds the client authentication for the token endpoint. `private_key_jwt` signs with the
 * PKCS#8 PEM key of `privateKeyFile` (RSA keys sign RS256, P-256 keys ES256).
 */
export async function buildClientAuth(
  settings: ClientAuthSettings,
  configDir: string,
): Promise<client.ClientAuth> {
  const key = `connection ${settings.id}`;
  const method = chooseAuthMethod(settings);
  const needSecret = (name: string) => {
    if (!settings.clientSecret) {
      throw new ConfigError([`${key}: tokenEndpointAuthMethod ${name} needs clientSecret`]);
    }
    return settings.clientSecret;
  };
  switch (method) {
    case "client_secret_basic":
      return client.ClientSecretBasic(needSecret(method));
    case "client_secret_post":
      return client.ClientSecretPost(needSecret(method));
    case "none":
      return client.None();
    case "private_key_jwt":
      break;
  }
  if (!settings.privateKeyFile) {
    throw new ConfigError([`${key}: tokenEndpointAuthMethod private_key_jwt needs privateKeyFile`]);
  }
  const pem = readPem(settings.privateKeyFile, configDir, `${key}.privateKeyFile`);
  const keyObject = createPrivateKey(pem);
  let algorithm: "RS256" | "ES256";
  if (keyObject.asymmetricKeyType === "rsa") {
    algorithm = "RS256";
  } else if (
    keyObject.asymmetricKeyType === "ec" &&
    keyObject.asymmetricKeyDetails?.namedCurve === "prime256v1"
  ) {
    algorithm = "ES256";
  } else {
    throw new ConfigError([
      `${key}.privateKeyFile: unsupported key type ${keyObject.asymmetricKeyType ?? "unknown"}; use an RSA (RS256) or P-256 EC (ES256) key in PKCS#8 PEM`,
    ]);
  }
  let cryptoKey: client.CryptoKey;
  try {
    cryptoKey = await importPKCS8(pem, algorithm);
  } catch (error) {
    throw new ConfigError([
      `${key}.privateKeyFile: the key is not a PKCS#8 PEM ("BEGIN PRIVATE KEY") key (${(error as Error).message}); convert it with openssl pkcs8 -topk8 -nocrypt`,
    ]);
  }
  return client.PrivateKeyJwt(cryptoKey);
}
