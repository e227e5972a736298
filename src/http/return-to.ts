/**
 * Tells whether `value` is a local path: it starts with exactly one "/", has no scheme, no
 * backslash and no control characters. Browsers treat "//host" and "/\host" as other sites.
 */
export function isLocalPath(value: string): boolean {
  if (!value.startsWith("/")) return false;
  if (value.startsWith("//")) return false;
  if (value.includes("\\")) return false;
  if (/[\u0000-\u001f\u007f]/.test(value)) return false;
  try {
    // A path such as "/%2F%2Fevil.example" stays local; decoding is checked for "//" anyway,
    // because some frameworks decode before redirecting.
    const decoded = decodeURIComponent(value);
    if (decoded.startsWith("//") || decoded.includes("\\")) return false;
  } catch {
    return false;
  }
  return true;
}

/** Returns `value` when it is a local path, otherwise "/". */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== "string" || value.length > 2048) return "/";
  return isLocalPath(value) ? value : "/";
}
