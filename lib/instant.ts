/**
 * ISO 8601 instants as operators type them (token expiry, audit and raw-data ranges): a date, or a
 * date-time with or without a zone, `T` or a space between. A date-time without a zone is UTC (JavaScript
 * would read it as local time), and nothing else is taken (`Date.parse` alone reads "1" as 2001-01-01).
 */
export const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** The instant as epoch ms (UTC when it names no zone); NaN when the text is not an ISO_INSTANT or no real date. */
export function parseIsoInstant(text: string): number {
  const t = text.trim();
  if (!ISO_INSTANT.test(t)) return NaN;
  const s = t.replace(' ', 'T');
  return Date.parse(s.includes('T') && !/(Z|[+-]\d{2}:?\d{2})$/i.test(s) ? `${s}Z` : s);
}
