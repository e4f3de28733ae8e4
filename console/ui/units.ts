/**
 * Readable units for the console (pure; tested in test/console/units.test.ts): bytes in GB or GiB,
 * durations in ms … days, CPU time in hours, rates per second, money with its currency.
 */

const trim = (v: number, digits = 3): string => {
  if (!Number.isFinite(v)) return '–';
  const abs = Math.abs(v);
  const d = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : digits;
  return v.toLocaleString('en-GB', { maximumFractionDigits: d, minimumFractionDigits: 0 });
};

export const formatCount = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-GB'));

/** Decimal bytes (kB, MB, GB…): data volumes and traffic. */
export function formatBytes(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let x = v;
  while (Math.abs(x) >= 1000 && i < units.length - 1) (x /= 1000), i++;
  return `${trim(x)} ${units[i]}`;
}

/** Binary bytes (KiB, MiB, GiB…): memory. */
export function formatBinaryBytes(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = v;
  while (Math.abs(x) >= 1024 && i < units.length - 1) (x /= 1024), i++;
  return `${trim(x)} ${units[i]}`;
}

/** Seconds as µs, ms, s, min, h or days. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.abs(seconds);
  if (s === 0) return '0 s';
  if (s < 1e-3) return `${trim(seconds * 1e6)} µs`;
  if (s < 1) return `${trim(seconds * 1e3)} ms`;
  if (s < 120) return `${trim(seconds)} s`;
  if (s < 7200) return `${trim(seconds / 60)} min`;
  if (s < 3 * 86400) return `${trim(seconds / 3600)} h`;
  return `${trim(seconds / 86400)} days`;
}

export const formatPct = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(digits)} %`);

export const formatRate = (perSecond: number | null | undefined, what = 'samples'): string => (perSecond === null || perSecond === undefined || !Number.isFinite(perSecond) ? '–' : `${trim(perSecond)} ${what}/s`);

/** Money from the API's decimal strings, with the currency (EUR 36.27 → "€36.27"). */
export function formatMoney(amount: string | number | null | undefined, currency: string): string {
  if (amount === null || amount === undefined || amount === '') return '–';
  const n = typeof amount === 'number' ? amount : Number(amount);
  if (!Number.isFinite(n)) return `${amount} ${currency}`;
  try {
    return new Intl.NumberFormat('en-GB', { style: 'currency', currency }).format(n);
  } catch {
    return `${n.toFixed(2)} ${currency}`;
  }
}

/** Instants as `2013-08-01 09:58 UTC`. */
export function formatTime(iso: string | number | Date | null | undefined): string {
  if (iso === null || iso === undefined) return '–';
  const d = new Date(iso);
  if (Number.isNaN(+d)) return String(iso);
  return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

/**
 * A value in a Ceilometer unit made readable, and what the unit becomes:
 * ns (CPU time) → hours, ns/s → CPU cores, B → GB, B/s → MB/s, MiB → GiB, MiB-hours → GiB-hours.
 */
export function readable(value: number | null | undefined, unit: string): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  switch (unit) {
    case 'ns':
      return formatDuration(value / 1e9);
    case 'ns/s':
      return `${trim(value / 1e9)} cores`;
    case 'B':
      return formatBytes(value);
    case 'B/s':
      return `${formatBytes(value)}/s`;
    case 'MiB':
    case 'MB':
      return formatBinaryBytes(value * 1024 * 1024);
    case 'MiB-hours':
      return `${formatBinaryBytes(value * 1024 * 1024)}-hours`;
    case 'GB':
      return formatBytes(value * 1e9);
    case '%':
      return formatPct(value);
    case 's':
      return formatDuration(value);
    case '%-hours':
      return `${trim(value)} %-hours`;
    default:
      return `${trim(value)}${unit ? ` ${unit}` : ''}`;
  }
}

/** Scale factor and label for plotting values of `unit` on an axis in readable units. */
export function axisUnit(unit: string): { factor: number; label: string } {
  switch (unit) {
    case 'ns':
      return { factor: 1 / 3.6e12, label: 'hours' };
    case 'ns/s':
      return { factor: 1e-9, label: 'CPU cores' };
    case 'B':
      return { factor: 1e-9, label: 'GB' };
    case 'B/s':
      return { factor: 1e-6, label: 'MB/s' };
    case 'MiB':
      return { factor: 1 / 1024, label: 'GiB' };
    case 'MiB-hours':
      return { factor: 1 / 1024, label: 'GiB-hours' };
    default:
      return { factor: 1, label: unit };
  }
}
