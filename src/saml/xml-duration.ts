const DAY_MS = 86_400_000;

/** Lengths used for the calendar units of xs:duration, which have no fixed length. */
const YEAR_MS = 365 * DAY_MS;
const MONTH_MS = 30 * DAY_MS;

const XS_DURATION =
  /^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * Parses an XML Schema duration such as `PT6H` or `P1DT12H` (the type of SAML metadata's
 * `cacheDuration`) into milliseconds. A year counts as 365 days and a month as 30 days.
 * Returns undefined for text that is not a duration, for a negative duration and for `P`/`PT`
 * without any field.
 */
export function parseXmlDurationMs(text: string): number | undefined {
  const match = XS_DURATION.exec(text.trim());
  if (!match || match[1] === "-") return undefined;
  const [, , years, months, days, hours, minutes, seconds] = match;
  if ([years, months, days, hours, minutes, seconds].every((field) => field === undefined)) {
    return undefined;
  }
  if (text.trim().endsWith("T")) return undefined;
  const number = (field: string | undefined) => (field === undefined ? 0 : Number(field));
  return Math.round(
    number(years) * YEAR_MS +
      number(months) * MONTH_MS +
      number(days) * DAY_MS +
      number(hours) * 3_600_000 +
      number(minutes) * 60_000 +
      number(seconds) * 1000,
  );
}
