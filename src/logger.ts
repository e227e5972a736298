import { pino, type Logger, type LoggerOptions } from "pino";

export type { Logger };

/**
 * Paths pino replaces with "[redacted]" in every log line, as a second line of defence: the code
 * logs IDs and codes, never assertions, tokens, cookies or secrets.
 */
const REDACT_PATHS = [
  "SAMLResponse",
  "SAMLRequest",
  "*.SAMLResponse",
  "*.SAMLRequest",
  "*.assertion",
  "*.id_token",
  "*.access_token",
  "*.refresh_token",
  "*.code",
  "*.code_verifier",
  "*.clientSecret",
  "*.client_secret",
  "req.headers.cookie",
  "req.headers.authorization",
  'res.headers["set-cookie"]',
];

/** Creates the service's structured JSON logger (pino) at the given level. */
export function createLogger(level: LoggerOptions["level"] = "info", destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: "federated-signin" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  };
  return destination ? pino(options, destination) : pino(options);
}
