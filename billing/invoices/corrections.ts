import { DECIMAL_LITERAL, Dec, formatMoney, minorUnits, toDec } from '../rating/money';
import type { LineItem } from '../rating/rate';
import type { Invoice, InvoiceEntry } from './invoice';

/** A correction already recorded against an issued invoice's line (kept in the account's document). */
export interface RecordedCorrection {
  invoice: string;
  line_id: string;
  amount: string;
}

/**
 * The correction lines that bring an issued invoice's billing of its period to what the period's
 * current rated lines say, per rated line: current amount − billed amount − corrections recorded
 * before. Computing it again after recording it gives nothing, so a repeated settle never corrects
 * twice. `lines` are the account's current lines of the invoice's period.
 */
export function correctionsFor(issued: Invoice, lines: readonly LineItem[], recorded: readonly RecordedCorrection[]): InvoiceEntry[] {
  const billed = new Map(issued.lines.map((l) => [l.id, l]));
  const now = new Map(lines.map((l) => [l.id, l]));
  const done = new Map<string, Dec>();
  for (const r of recorded) if (r.invoice === issued.number) done.set(r.line_id, (done.get(r.line_id) ?? new Dec(0)).plus(r.amount));
  const out: InvoiceEntry[] = [];
  for (const id of [...new Set([...billed.keys(), ...now.keys()])].sort()) {
    const cur = now.get(id);
    const old = billed.get(id);
    const diff = new Dec(cur?.amount ?? 0).minus(old?.amount ?? 0).minus(done.get(id) ?? 0);
    if (diff.isZero()) continue;
    const ref = (cur ?? old)!;
    const qty = cur ? `${cur.quantity}${cur.unit ? ` ${cur.unit}` : ''}` : '0';
    out.push({
      kind: 'adjustment',
      description: `correction of ${issued.number} (${ref.period_start.slice(0, 10)} → ${ref.period_end.slice(0, 10)}) ${ref.project_id} ${ref.meter}: late usage, now ${qty}`,
      amount: formatMoney(diff, issued.currency),
      corrects: issued.number,
      period_start: ref.period_start,
      period_end: ref.period_end,
      line_id: id,
      meter: ref.meter,
      project_id: ref.project_id,
    });
  }
  return out;
}

/** A correction amount: a plain signed decimal in the currency's minor units (refused otherwise, before it is queued). */
export function correctionAmount(amount: string, currency: string): string {
  if (!DECIMAL_LITERAL.test(amount.trim())) throw new Error(`correction amount ${JSON.stringify(amount)}: expected a decimal number such as "-3.00"`);
  const value = toDec(amount.trim());
  const decimals = minorUnits(currency);
  if (value.decimalPlaces() > decimals) throw new Error(`correction amount ${amount}: ${currency} has ${decimals} decimal place(s)`);
  return value.toFixed(decimals);
}
