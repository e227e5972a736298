import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import type { SAML } from "@node-saml/node-saml";
import { Piscina } from "piscina";
import { SignInError, type ErrorCode, type LogDetails } from "../errors.js";
import type { ServiceContext } from "../http/service.js";
import type { AssertionFields } from "./verified-assertion.js";
import type { SamlSettings } from "./settings.js";
import { validateResponse, type ValidatedResponse } from "./validate-response.js";
import type { ValidationTask } from "./validation-worker.js";

/**
 * Runs the CPU-heavy, store-free part of the ACS (decode, parse, structure checks, signature
 * verification, decryption, and the issuer, audience, Destination, Recipient and time checks)
 * on the main thread or in worker threads. Replay, InResponseTo binding and the session stay on
 * the main thread in acs.ts.
 */
export interface SamlResponseValidator {
  /** Worker threads in use; 0 means validation runs on the main thread. */
  readonly threads: number;
  /** Validations started and not yet settled, for tests and benchmarks. */
  readonly pending: number;
  /**
   * Validates a SAMLResponse form value. Rejects with the same {@link SignInError} code,
   * message, fix and log details in both modes.
   */
  validate(
    settings: SamlSettings,
    verifier: SAML,
    samlResponse: string,
    nowMs: number,
  ): Promise<ValidatedResponse>;
  /** Stops the worker threads; later calls to validate() reject. */
  close(): Promise<void>;
}

/** Fields of a SignInError that cross the thread boundary. */
export interface SerializedSignInError {
  code: ErrorCode;
  message: string;
  fix: string;
  connection: string | undefined;
  logDetails: LogDetails;
  providerMessage: string | undefined;
}

/** Result of one worker task. */
export type ValidationOutcome =
  | { ok: true; validated: ValidatedResponse }
  | { ok: false; signInError: SerializedSignInError }
  | { ok: false; otherError: { name: string; message: string } };

/** Options of {@link createSamlValidationPool}. */
export interface SamlValidationPoolOptions {
  /** Worker threads, at least 1. */
  threads: number;
  /** Compiled worker entry file; defaults to {@link compiledWorkerPath}. */
  workerFile?: string;
}

/** True when this module was loaded from TypeScript source (jest, tsx) instead of dist/. */
const RUNNING_FROM_SOURCE = import.meta.url.endsWith(".ts");

/**
 * Returns the path of the compiled worker entry. From dist/ it sits next to this module. From
 * the TypeScript source it is the output of `npm run build`, because worker threads load plain
 * JavaScript without the test runner's transform.
 */
export function compiledWorkerPath(): string {
  const relative = RUNNING_FROM_SOURCE
    ? "../../dist/saml/validation-worker.js"
    : "./validation-worker.js";
  return fileURLToPath(new URL(relative, import.meta.url));
}

/**
 * Returns the thread count used when `workers.saml` is unset: CPUs minus one (at least 1), so
 * one CPU stays free for the event loop. From the TypeScript source it is 0, because dist/ may
 * be older than the source under test.
 */
export function defaultSamlThreads(): number {
  if (RUNNING_FROM_SOURCE) return 0;
  return Math.max(1, availableParallelism() - 1);
}

class InlineValidator implements SamlResponseValidator {
  readonly threads = 0;
  pending = 0;

  async validate(
    settings: SamlSettings,
    verifier: SAML,
    samlResponse: string,
    nowMs: number,
  ): Promise<ValidatedResponse> {
    this.pending += 1;
    try {
      return await validateResponse(settings, verifier, samlResponse, nowMs);
    } finally {
      this.pending -= 1;
    }
  }

  async close(): Promise<void> {}
}

function rebuildValidated(validated: ValidatedResponse): ValidatedResponse {
  // Structured cloning gives the attribute map Object.prototype back; restore the
  // null-prototype map that readAssertionFields builds, so attribute names such as
  // "constructor" stay plain keys.
  const attributes = Object.assign(
    Object.create(null) as AssertionFields["attributes"],
    validated.fields.attributes,
  );
  return { ...validated, fields: { ...validated.fields, attributes } };
}

function rebuildError(outcome: Exclude<ValidationOutcome, { ok: true }>): Error {
  if ("signInError" in outcome) {
    const { code, message, fix, connection, logDetails, providerMessage } = outcome.signInError;
    return new SignInError(code, message, {
      fix,
      logDetails,
      ...(connection !== undefined ? { connection } : {}),
      ...(providerMessage !== undefined ? { providerMessage } : {}),
    });
  }
  const error = new Error(outcome.otherError.message);
  error.name = outcome.otherError.name;
  return error;
}

class PoolValidator implements SamlResponseValidator {
  readonly threads: number;
  pending = 0;
  private readonly pool: Piscina<ValidationTask, ValidationOutcome>;

  constructor(options: SamlValidationPoolOptions) {
    const workerFile = options.workerFile ?? compiledWorkerPath();
    if (!existsSync(workerFile)) {
      throw new Error(
        `SAML validation worker not found at ${workerFile}; run "npm run build", or set workers.saml: 0 to validate on the main thread`,
      );
    }
    this.threads = options.threads;
    // NOTE: the task queue is unbounded, as the event loop is in inline mode. Each queued task
    // contains one SAMLResponse of at most maxResponseSize bytes.
    this.pool = new Piscina({
      filename: workerFile,
      minThreads: options.threads,
      maxThreads: options.threads,
    });
  }

  async validate(
    settings: SamlSettings,
    _verifier: SAML,
    samlResponse: string,
    nowMs: number,
  ): Promise<ValidatedResponse> {
    this.pending += 1;
    let outcome: ValidationOutcome;
    try {
      outcome = await this.pool.run({ settings, samlResponse, nowMs });
    } finally {
      this.pending -= 1;
    }
    if (!outcome.ok) throw rebuildError(outcome);
    return rebuildValidated(outcome.validated);
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

/** The validator that runs on the main thread. */
export const inlineSamlValidator: SamlResponseValidator = new InlineValidator();

/** Creates a validator that runs validations in `threads` worker threads (piscina). */
export function createSamlValidationPool(
  options: SamlValidationPoolOptions,
): SamlResponseValidator {
  if (!Number.isInteger(options.threads) || options.threads < 1) {
    throw new RangeError(`threads must be a positive integer, got ${options.threads}`);
  }
  return new PoolValidator(options);
}

/**
 * Pools shared by every service in this process, keyed by thread count. Idle piscina (5.3)
 * workers are unref'd, so an open pool does not keep the process alive.
 */
const sharedPools = new Map<number, SamlResponseValidator>();

/**
 * Returns the validator for a service's `workers.saml` setting. Worker threads are a process
 * resource, so services with the same thread count share one pool, created at the first
 * sign-in. It throws when the compiled worker file is missing.
 */
export function samlValidatorFor(svc: ServiceContext): SamlResponseValidator {
  const threads = svc.config.workers?.saml ?? defaultSamlThreads();
  if (threads === 0) return inlineSamlValidator;
  let pool = sharedPools.get(threads);
  if (!pool) {
    pool = createSamlValidationPool({ threads });
    sharedPools.set(threads, pool);
  }
  return pool;
}

/** Stops every shared pool (tests, benchmarks, shutdown); the next sign-in starts a new one. */
export async function closeSamlValidationPools(): Promise<void> {
  const pools = [...sharedPools.values()];
  sharedPools.clear();
  await Promise.all(pools.map((pool) => pool.close()));
}
