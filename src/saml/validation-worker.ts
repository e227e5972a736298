/**
 * Entry file of the SAML validation worker threads (see worker-pool.ts). Piscina loads the
 * compiled form, `dist/saml/validation-worker.js`, and calls the default export once per task.
 */
import type { SAML } from "@node-saml/node-saml";
import { SignInError } from "../errors.js";
import type { SamlSettings } from "./settings.js";
import { createSignatureVerifier, validateResponse } from "./validate-response.js";
import type { ValidationOutcome } from "./worker-pool.js";

/** One validation request: the settings travel with every task, so workers need no setup. */
export interface ValidationTask {
  settings: SamlSettings;
  samlResponse: string;
  nowMs: number;
}

/** Maximum number of cached verifiers per thread. Past it the cache is cleared and refilled. */
const MAX_CACHED_VERIFIERS = 64;

/** node-saml instances keyed by the settings they were built from. */
const verifiers = new Map<string, SAML>();

function verifierFor(settings: SamlSettings): SAML {
  const key = JSON.stringify(settings);
  let verifier = verifiers.get(key);
  if (!verifier) {
    if (verifiers.size >= MAX_CACHED_VERIFIERS) verifiers.clear();
    verifier = createSignatureVerifier(settings);
    verifiers.set(key, verifier);
  }
  return verifier;
}

/**
 * Validates one response. Never throws for a rejected response: the outcome carries the error
 * fields, because structured cloning keeps only the name and message of an Error.
 */
export default async function validateTask(task: ValidationTask): Promise<ValidationOutcome> {
  const { settings, samlResponse, nowMs } = task;
  try {
    const validated = await validateResponse(settings, verifierFor(settings), samlResponse, nowMs);
    return { ok: true, validated };
  } catch (error) {
    if (error instanceof SignInError) {
      return {
        ok: false,
        signInError: {
          code: error.code,
          message: error.message,
          fix: error.fix,
          connection: error.connection,
          logDetails: error.logDetails,
          providerMessage: error.providerMessage,
        },
      };
    }
    const plain = error instanceof Error ? error : new Error(String(error));
    return { ok: false, otherError: { name: plain.name, message: plain.message } };
  }
}
