import { describe, expect, it } from 'vitest';
import { Dec, formatMoney, minorUnits, roundMoney, toDec } from '../../billing/rating/money';
import { conversionFactor } from '../../billing/rating/units';

describe('currency minor units', () => {
  it('knows zero-, two- and three-decimal currencies', () => {
    expect(minorUnits('JPY')).toBe(0);
    expect(minorUnits('EUR')).toBe(2);
    expect(minorUnits('BHD')).toBe(3);
  });
  it('rejects malformed codes', () => {
    expect(() => minorUnits('eur')).toThrow(/invalid currency code "eur"/);
  });
  it('formats amounts with exactly the minor-unit digits', () => {
    expect(formatMoney(new Dec('12.3'), 'EUR')).toBe('12.30');
    expect(formatMoney(roundMoney(new Dec('1234.5'), 'JPY', 'half-up'), 'JPY')).toBe('1235');
    expect(formatMoney(roundMoney(new Dec('0.12345'), 'BHD', 'half-even'), 'BHD')).toBe('0.123');
  });
});

describe('rounding at exactly .5 of the minor unit', () => {
  const cases: [string, string, string][] = [
    // amount, half-even, half-up
    ['0.125', '0.12', '0.13'],
    ['0.135', '0.14', '0.14'],
    ['2.665', '2.66', '2.67'],
    ['-0.125', '-0.12', '-0.13'],
    ['0.1251', '0.13', '0.13'],
  ];
  for (const [amount, even, up] of cases) {
    it(`${amount} EUR → ${even} (half-even), ${up} (half-up)`, () => {
      expect(roundMoney(new Dec(amount), 'EUR', 'half-even').toFixed(2)).toBe(even);
      expect(roundMoney(new Dec(amount), 'EUR', 'half-up').toFixed(2)).toBe(up);
    });
  }
  it('rounds JPY to whole yen (2.5 → 2 half-even, 3 half-up)', () => {
    expect(roundMoney(new Dec('2.5'), 'JPY', 'half-even').toFixed()).toBe('2');
    expect(roundMoney(new Dec('2.5'), 'JPY', 'half-up').toFixed()).toBe('3');
  });
});

describe('decimal input', () => {
  it('reads strings exactly', () => {
    expect(toDec('0.1').plus(toDec('0.2')).toFixed()).toBe('0.3');
  });
  it('accepts short numbers (exact as written) and whole numbers with trailing zeros', () => {
    expect(toDec(0.021).toFixed()).toBe('0.021');
    expect(toDec(3600000000000000).toFixed()).toBe('3600000000000000');
  });
  it('refuses numbers whose literal cannot be known exactly, and non-decimals', () => {
    expect(() => toDec(0.1 + 0.2)).toThrow(/more than 15 significant digits; quote it/);
    expect(() => toDec('1e3')).toThrow(/not a decimal number/);
    expect(() => toDec('abc')).toThrow(/not a decimal number/);
  });
});

describe('unit conversion', () => {
  it('converts Ceilometer cpu nanoseconds to hours exactly', () => {
    expect(new Dec('7200000000000').times(conversionFactor('ns', 'hours')).toFixed()).toBe('2');
  });
  it('converts bytes to GiB and GB', () => {
    expect(new Dec(2 ** 31).times(conversionFactor('B', 'GiB')).toFixed()).toBe('2');
    expect(new Dec('1500000000').times(conversionFactor('B', 'GB')).toFixed()).toBe('1.5');
  });
  it('converts byte-seconds to GiB-hours (time-weighted gauges)', () => {
    expect(new Dec(2 ** 30 * 7200).times(conversionFactor('B-s', 'GiB-hours')).toFixed()).toBe('2');
  });
  it('refuses to convert across dimensions or unknown units', () => {
    expect(() => conversionFactor('ns', 'GB')).toThrow(/cannot convert ns \(time\) to GB \(data\)/);
    expect(() => conversionFactor('furlong', 'hours')).toThrow(/unknown unit "furlong"/);
  });
});
