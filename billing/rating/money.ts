import Decimal from 'decimal.js';

/**
 * Decimal arithmetic for money and billable quantities. A private Decimal clone so no other module's
 * global configuration can change precision or rounding under us; 40 significant digits is far more
 * than any price × quantity needs, and every rounding to a currency's minor unit is explicit.
 */
export const Dec = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -30, toExpPos: 40 });
export type Dec = InstanceType<typeof Dec>;

export const ROUNDING_MODES = ['half-even', 'half-up'] as const;
export type RoundingMode = (typeof ROUNDING_MODES)[number];

const ROUNDING: Record<RoundingMode, Decimal.Rounding> = {
  'half-even': Decimal.ROUND_HALF_EVEN,
  'half-up': Decimal.ROUND_HALF_UP, // away from zero at .5, as accountants usually mean by "half up"
};

/**
 * ISO 4217 minor units (digits after the decimal point) for the currencies whose exponent is not 2.
 * Every other well-formed three-letter code defaults to 2.
 */
const MINOR_UNITS: Record<string, number> = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0, UGX: 0, UYI: 0,
  VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
  CLF: 4, UYW: 4,
};

export const CURRENCY_CODE = /^[A-Z]{3}$/;

/** Digits after the decimal point for `currency` (JPY 0, EUR 2, BHD 3, ...). */
export function minorUnits(currency: string): number {
  if (!CURRENCY_CODE.test(currency)) throw new Error(`invalid currency code "${currency}" (expected three upper-case letters, e.g. EUR)`);
  return MINOR_UNITS[currency] ?? 2;
}

/** Round an amount to the currency's minor unit with the plan's rounding mode. */
export function roundMoney(amount: Dec, currency: string, mode: RoundingMode): Dec {
  return amount.toDecimalPlaces(minorUnits(currency), ROUNDING[mode]);
}

/** Render an amount with exactly the currency's number of decimals ("12.30", "1200", "0.125"). */
export function formatMoney(amount: Dec, currency: string): string {
  return amount.toFixed(minorUnits(currency));
}

/** A plain decimal literal: optional sign, digits, optional fraction. No exponents, no spaces. */
export const DECIMAL_LITERAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/**
 * Read a decimal given as a string (exact) or a JS number. A number is accepted only when its
 * shortest decimal rendering has at most 15 significant digits: then that rendering is exactly the
 * literal the user wrote (doubles round-trip 15 digits), so no binary-float error can leak in.
 */
export function toDec(value: string | number): Dec {
  if (typeof value === 'string') {
    const s = value.trim();
    if (!DECIMAL_LITERAL.test(s)) throw new Error(`"${value}" is not a decimal number`);
    return new Dec(s);
  }
  if (!Number.isFinite(value)) throw new Error(`${value} is not a finite number`);
  const s = String(value);
  const digits = s.replace(/^-/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  if (digits.length > 15) throw new Error(`${s} has more than 15 significant digits; quote it as a string to keep it exact`);
  return new Dec(s);
}

/** Plain (non-exponent) string of a decimal, trailing zeros removed: "0.5", "1200", "0.000001". */
export function plain(d: Dec): string {
  return d.toFixed();
}
