import { createSign, createVerify } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";

/** XML Signature URIs of the RSA signature algorithms. */
export const SIGNATURE_ALGORITHMS = {
  rsaSha1: "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
  rsaSha256: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
  rsaSha384: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
  rsaSha512: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
} as const;

const NODE_HASH_BY_ALGORITHM: Record<string, string> = {
  [SIGNATURE_ALGORITHMS.rsaSha1]: "RSA-SHA1",
  [SIGNATURE_ALGORITHMS.rsaSha256]: "RSA-SHA256",
  [SIGNATURE_ALGORITHMS.rsaSha384]: "RSA-SHA384",
  [SIGNATURE_ALGORITHMS.rsaSha512]: "RSA-SHA512",
};

/** Maximum size of an inflated HTTP-Redirect message, in bytes (a zip-bomb guard). */
const MAX_INFLATED_BYTES = 256 * 1024;

/**
 * Builds an HTTP-Redirect binding URL (SAML 2.0 Bindings, section 3.4). The message is
 * DEFLATE-compressed and base64-encoded. With a key, the query string
 * `SAMLRequest=…&RelayState=…&SigAlg=…` is signed with RSA-SHA256.
 */
export function buildRedirectUrl(
  destination: string,
  parameter: "SAMLRequest" | "SAMLResponse",
  xml: string,
  options: { relayState?: string; signingKey?: string },
): string {
  const parts = [`${parameter}=${encodeURIComponent(deflateRawSync(xml).toString("base64"))}`];
  if (options.relayState !== undefined) {
    parts.push(`RelayState=${encodeURIComponent(options.relayState)}`);
  }
  if (options.signingKey !== undefined) {
    parts.push(`SigAlg=${encodeURIComponent(SIGNATURE_ALGORITHMS.rsaSha256)}`);
    const signer = createSign("RSA-SHA256");
    signer.update(parts.join("&"));
    parts.push(`Signature=${encodeURIComponent(signer.sign(options.signingKey, "base64"))}`);
  }
  const url = new URL(destination);
  const query = parts.join("&");
  return `${url.origin}${url.pathname}${url.search ? `${url.search}&` : "?"}${query}`;
}

/** A decoded HTTP-Redirect message with what its query signature covered. */
export interface RedirectMessage {
  xml: string;
  relayState?: string;
  /** True when a Signature parameter verified with one of the certificates. */
  signed: boolean;
  /** SigAlg as sent, when signed. */
  signatureAlgorithm?: string;
}

/** Raised by {@link decodeRedirectMessage}; `reason` is for the log. */
export class RedirectBindingError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "RedirectBindingError";
  }
}

function rawParameter(rawQuery: string, name: string): string | undefined {
  const matches = rawQuery.split("&").filter((part) => part.startsWith(`${name}=`));
  if (matches.length > 1) throw new RedirectBindingError(`query repeats ${name}`);
  return matches[0];
}

/**
 * Decodes an HTTP-Redirect message from the raw query string and checks its signature over the
 * parameters exactly as they were sent. An unsigned message is returned with `signed: false`;
 * a Signature that does not verify, or a SigAlg outside `allowedAlgorithms`, is rejected.
 */
export function decodeRedirectMessage(
  rawQuery: string,
  parameter: "SAMLRequest" | "SAMLResponse",
  certs: string[],
  allowedAlgorithms: string[],
): RedirectMessage {
  const messagePart = rawParameter(rawQuery, parameter);
  if (!messagePart) throw new RedirectBindingError(`query has no ${parameter}`);
  const relayPart = rawParameter(rawQuery, "RelayState");
  const sigAlgPart = rawParameter(rawQuery, "SigAlg");
  const signaturePart = rawParameter(rawQuery, "Signature");
  const value = (part: string) =>
    decodeURIComponent(part.slice(part.indexOf("=") + 1).replace(/\+/g, " "));

  let xml: string;
  try {
    const compressed = Buffer.from(value(messagePart), "base64");
    xml = inflateRawSync(compressed, { maxOutputLength: MAX_INFLATED_BYTES }).toString("utf8");
  } catch (error) {
    throw new RedirectBindingError(
      `${parameter} is not DEFLATE-compressed base64: ${(error as Error).message}`,
    );
  }
  const message: RedirectMessage = { xml, signed: false };
  if (relayPart) message.relayState = value(relayPart);
  if (!signaturePart) return message;

  if (!sigAlgPart) throw new RedirectBindingError("query has a Signature without SigAlg");
  const algorithm = value(sigAlgPart);
  const hash = NODE_HASH_BY_ALGORITHM[algorithm];
  if (!hash || !allowedAlgorithms.includes(algorithm)) {
    throw new RedirectBindingError(`SigAlg ${algorithm.slice(0, 80)} is not accepted`);
  }
  const signedText = [messagePart, relayPart, sigAlgPart].filter(Boolean).join("&");
  const signature = Buffer.from(value(signaturePart), "base64");
  const verified = certs.some((cert) => {
    const verifier = createVerify(hash);
    verifier.update(signedText);
    try {
      return verifier.verify(cert, signature);
    } catch {
      return false;
    }
  });
  if (!verified)
    throw new RedirectBindingError("query signature does not verify with the IdP certificates");
  message.signed = true;
  message.signatureAlgorithm = algorithm;
  return message;
}
