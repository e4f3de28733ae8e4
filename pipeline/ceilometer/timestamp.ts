/**
 * Ceilometer timestamps: ISO-8601 strings from Python's isoformat(). Polled samples carry no zone
 * ("2016-10-06T12:00:00.123456") and are UTC; notification samples end in "+00:00"; oslo
 * envelopes use a space separator. Microseconds are truncated to milliseconds, as pymongo did when
 * Ceilometer's MongoDB driver stored the datetime as a BSON Date.
 */

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/** The last text parsed and its instant: the samples of one poll share their timestamp. */
let lastText = '';
let lastMs = NaN;

/** Parse a Ceilometer timestamp to a Date (UTC), or return a sentence saying what is wrong. */
export function parseCeilometerTimestamp(text: string): Date | { error: string } {
  if (text === lastText) return new Date(lastMs);
  const parsed = parseTimestampText(text);
  if (parsed instanceof Date) {
    lastText = text;
    lastMs = parsed.getTime();
  }
  return parsed;
}

function parseTimestampText(text: string): Date | { error: string } {
  const m = ISO.exec(text.trim());
  if (!m) return { error: 'expected an ISO-8601 date-time such as "2016-10-06T12:00:00.123456" or "2016-10-06T12:00:00+00:00"' };
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number, number];
  const second = m[6] ? Number(m[6]) : 0;
  const ms = m[7] ? Number(m[7].padEnd(3, '0').slice(0, 3)) : 0;
  if (year < 1) return { error: 'year must be 0001 or later' };
  if (month < 1 || month > 12) return { error: `month ${m[2]} is out of range 01-12` };
  const maxDay = month === 2 && isLeap(year) ? 29 : DAYS[month - 1]!;
  if (day < 1 || day > maxDay) return { error: `day ${m[3]} is out of range for ${m[1]}-${m[2]}` };
  if (hour > 23) return { error: `hour ${m[4]} is out of range 00-23` };
  if (minute > 59) return { error: `minute ${m[5]} is out of range 00-59` };
  if (second > 59) return { error: `second ${m[6]} is out of range 00-59` };
  let offsetMinutes = 0;
  if (m[9]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return { error: `zone offset ${m[9]}${m[10]}:${m[11]} is out of range` };
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  return new Date(d.getTime() - offsetMinutes * 60_000);
}

/**
 * Render a Date as Ceilometer's notification samples do (`isoformat()` of an aware UTC datetime):
 * "2016-10-06T12:00:00.123000+00:00", without the fraction when it is zero.
 */
export function formatCeilometerTimestamp(date: Date): string {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const base = iso.slice(0, 19);
  const ms = date.getUTCMilliseconds();
  return `${base}${ms ? '.' + String(ms * 1000).padStart(6, '0') : ''}+00:00`;
}
