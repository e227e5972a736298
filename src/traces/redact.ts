/**
 * Redaction of values kept in login traces. Traces are for an admin who sets up a connection:
 * they show which claim names arrived and the shape of their values, never a full personal
 * value, an assertion, a signature or a token.
 */

/** Maximum length of a kept value, in characters; longer values are cut and end in "…". */
export const MAX_VALUE_CHARS = 24;
/** Most values kept of a multi-valued claim (groups, roles). */
export const MAX_LIST_ITEMS = 5;

/** Claim and attribute names whose values are names of a person. */
const PERSON_NAME_PATTERN = /name|upn|surname|\bsn\b|given|family|display|username|login/i;
const EMAIL_PATTERN = /^[^@\s]+@[^@\s]+$/;
/** Values that look like a JWT or a long opaque token; dropped entirely. */
const TOKEN_PATTERN =
  /^[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*$|^[A-Za-z0-9+/_=-]{120,}$/;

function truncate(text: string, max = MAX_VALUE_CHARS): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Masks an e-mail address: `alice.smith@mercy.example.org` becomes `a***@m***.org`. */
export function maskEmail(text: string): string {
  const at = text.lastIndexOf("@");
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  const dot = domain.lastIndexOf(".");
  const topLevel = dot > 0 ? domain.slice(dot) : "";
  return `${local.slice(0, 1)}***@${domain.slice(0, 1)}***${truncate(topLevel, 8)}`;
}

/** Masks a person's name word by word: `Alice Smith` becomes `A*** S***`. */
export function maskName(text: string): string {
  return text
    .split(/\s+/)
    .filter((word) => word !== "")
    .slice(0, 4)
    .map((word) => `${word.slice(0, 1)}***`)
    .join(" ");
}

/** Redacts one scalar value, using the claim name to recognize personal names. */
function redactScalar(claimName: string, value: string): string {
  if (TOKEN_PATTERN.test(value)) return "[token-like value removed]";
  if (EMAIL_PATTERN.test(value)) return maskEmail(value);
  if (PERSON_NAME_PATTERN.test(claimName)) return maskName(value);
  return truncate(value);
}

/**
 * Redacts a claim or attribute value for a trace: e-mail addresses and person names are
 * partially masked, other text is truncated, lists keep their first {@link MAX_LIST_ITEMS}
 * items and their length, and objects keep only their member names.
 */
export function redactValue(claimName: string, value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === "boolean" || typeof value === "number") return String(value);
  if (typeof value === "string") return redactScalar(claimName, value);
  if (Array.isArray(value)) {
    const shown = value.slice(0, MAX_LIST_ITEMS).map((item) => redactValue(claimName, item));
    const more = value.length > MAX_LIST_ITEMS ? `, … (${value.length} values)` : "";
    return `[${shown.join(", ")}${more}]`;
  }
  if (typeof value === "object") {
    return `{${Object.keys(value as object)
      .slice(0, 10)
      .map((key) => truncate(key, 40))
      .join(", ")}}`;
  }
  return "[value removed]";
}

/** Redacts a value that came from the log details of a rejection (IDs, issuers, reasons). */
export function redactDetail(name: string, value: unknown): string {
  const text = String(value);
  if (TOKEN_PATTERN.test(text)) return "[token-like value removed]";
  return text
    .replace(/[^@\s"'<>]+@[^@\s"'<>]+\.[A-Za-z]{2,}/g, (email) => maskEmail(email))
    .slice(0, name === "reason" ? 200 : 120);
}
