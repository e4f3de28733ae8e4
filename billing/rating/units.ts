import { Dec } from './money';

/**
 * Unit conversion for mapping raw Ceilometer meters onto billable ones (cpu in ns → cpu hours,
 * network bytes → GB). Factors are exact decimals: the value of one unit in the dimension's base
 * unit (seconds for time, bytes for data).
 */
interface UnitDef {
  dimension: 'time' | 'data' | 'data-time';
  factor: string;
}

const TIME: Record<string, string> = {
  ns: '0.000000001', us: '0.000001', ms: '0.001', s: '1', sec: '1', second: '1', seconds: '1',
  min: '60', minute: '60', minutes: '60', h: '3600', hour: '3600', hours: '3600', hr: '3600',
  d: '86400', day: '86400', days: '86400',
  month: '2592000', // 30 days, the usual billing month for "per month" units; state it in the plan
};
const DATA: Record<string, string> = {
  B: '1', byte: '1', bytes: '1',
  KB: '1000', MB: '1000000', GB: '1000000000', TB: '1000000000000',
  KiB: '1024', MiB: '1048576', GiB: '1073741824', TiB: '1099511627776',
};

function lookup(unit: string): UnitDef | undefined {
  if (TIME[unit] !== undefined) return { dimension: 'time', factor: TIME[unit]! };
  if (DATA[unit] !== undefined) return { dimension: 'data', factor: DATA[unit]! };
  // data × time, e.g. "GiB-hours", "GB-month", "B*s" (what time-weighted gauge mediation produces)
  const m = /^(\w+)[-*·](\w+)$/.exec(unit);
  if (m && DATA[m[1]!] !== undefined && TIME[m[2]!] !== undefined) {
    return { dimension: 'data-time', factor: new Dec(DATA[m[1]!]!).times(TIME[m[2]!]!).toString() };
  }
  return undefined;
}

/** Exact factor f such that `quantity_in_from × f = quantity_in_to`; throws naming the bad unit. */
export function conversionFactor(from: string, to: string): Dec {
  if (from === to) return new Dec(1);
  const a = lookup(from);
  const b = lookup(to);
  if (!a) throw new Error(`unknown unit "${from}"`);
  if (!b) throw new Error(`unknown unit "${to}"`);
  if (a.dimension !== b.dimension) throw new Error(`cannot convert ${from} (${a.dimension}) to ${to} (${b.dimension})`);
  return new Dec(a.factor).div(b.factor);
}
