import { z } from 'zod';
import { loadYamlFile, parseYaml, validateYaml } from '../../config/yaml-source';
import { CURRENCY_CODE, Dec, ROUNDING_MODES, toDec } from './money';
import { conversionFactor } from './units';
import { isValidTimeZone, parseDateInZone } from '../mediation/periods';

/**
 * Price plan file (YAML). Money amounts are exact decimals: write them quoted ("0.021"); an
 * unquoted number is accepted only when it has at most 15 significant digits (then it is exact).
 */
const decimal = (what: string) =>
  z
    .union([z.string(), z.number()], {
      error: (iss) => (iss.input === undefined ? 'required' : `expected a decimal number, e.g. "0.10" (got ${JSON.stringify(iss.input)})`),
    })
    .transform((v, ctx) => {
    try {
      return toDec(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `${what}: ${(err as Error).message}` });
      return z.NEVER;
    }
  });
const money = decimal('amount').refine((d) => d.gte(0), 'must not be negative');
const quantity = decimal('quantity').refine((d) => d.gte(0), 'must not be negative');
const positive = decimal('quantity').refine((d) => d.gt(0), 'must be greater than zero');

/** A tier: units up to and including `up_to` (null = no upper bound, only on the last tier). */
const tier = z.strictObject({ up_to: positive.nullable(), unit_price: money });

const tiers = z
  .array(tier)
  .min(1, 'at least one tier is needed')
  .superRefine((ts, ctx) => {
    let prev: Dec | null = null;
    ts.forEach((t, i) => {
      const last = i === ts.length - 1;
      if (t.up_to === null && !last) ctx.addIssue({ code: 'custom', path: [i, 'up_to'], message: 'only the last tier may be unbounded (up_to: null)' });
      if (t.up_to !== null && last) ctx.addIssue({ code: 'custom', path: [i, 'up_to'], message: 'the last tier must be unbounded (up_to: null) so every quantity has a price' });
      if (t.up_to !== null && prev !== null && t.up_to.lte(prev)) ctx.addIssue({ code: 'custom', path: [i, 'up_to'], message: `must be greater than the previous tier's up_to (${prev.toFixed()})` });
      if (t.up_to !== null) prev = t.up_to;
    });
  });

/**
 * Where a charge's quantity comes from when the billable meter is not the raw meter:
 * `{meter: cpu, unit: ns, to: hours}` bills Ceilometer's `cpu` (ns) as hours; `factor` multiplies
 * instead of (or after) a unit conversion.
 */
const source = z
  .strictObject({
    meter: z.string().min(1),
    unit: z.string().min(1).optional(),
    to: z.string().min(1).optional(),
    factor: positive.optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.unit === undefined) !== (s.to === undefined)) {
      ctx.addIssue({ code: 'custom', path: [s.unit === undefined ? 'unit' : 'to'], message: 'unit and to go together (convert from unit to to)' });
      return;
    }
    if (s.unit !== undefined && s.to !== undefined) {
      try {
        conversionFactor(s.unit, s.to);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['to'], message: (err as Error).message });
      }
    }
  });

const common = {
  meter: z.string().min(1),
  description: z.string().optional(),
  /** Units deducted from the period's usage before pricing. */
  free: quantity.optional(),
  /** A positive charge is raised to at least this amount. */
  minimum: money.optional(),
  source: source.optional(),
};

export const chargeSchema = z.discriminatedUnion('model', [
  z.strictObject({ ...common, model: z.literal('per_unit'), unit_price: money }),
  z.strictObject({ ...common, model: z.literal('graduated'), tiers }),
  z.strictObject({ ...common, model: z.literal('volume'), tiers }),
  z.strictObject({ ...common, model: z.literal('package'), package_size: positive, package_price: money }),
  z.strictObject({ ...common, model: z.literal('flat'), price: money }),
]);
export type Charge = z.output<typeof chargeSchema>;
export type PricingModel = Charge['model'];

const planVersion = z.strictObject({
  id: z.string().min(1),
  description: z.string().optional(),
  /** Project ids, or "*" for any project without a more specific plan. */
  projects: z.array(z.string().min(1)).min(1),
  /** YYYY-MM-DD (midnight in the file's time zone) or an ISO timestamp with offset. */
  effective_from: z.union([z.string(), z.date()]).superRefine((v, ctx) => {
    try {
      parseDateInZone(v, 'UTC'); // syntax and calendar check; the file's time zone is applied later
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  }),
  charges: z.array(chargeSchema).min(1),
});

export const planFileSchema = z
  .strictObject({
    currency: z.string().regex(CURRENCY_CODE, 'expected an ISO 4217 code such as EUR'),
    rounding: z.enum(ROUNDING_MODES).default('half-even'),
    /** Time zone of date-only effective_from values (and of the billing calendar). */
    timezone: z.string().refine(isValidTimeZone, { error: (iss) => `unknown time zone ${JSON.stringify(iss.input)}` }).default('UTC'),
    plans: z.array(planVersion).min(1),
  })
  .superRefine((f, ctx) => {
    const tz = f.timezone;
    const seen = new Map<string, number>(); // project|effective instant → plan index
    f.plans.forEach((p, i) => {
      let eff: Date;
      try {
        eff = parseDateInZone(p.effective_from, tz);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['plans', i, 'effective_from'], message: (err as Error).message });
        return;
      }
      for (const proj of p.projects) {
        const key = `${proj}|${eff.getTime()}`;
        const other = seen.get(key);
        if (other !== undefined && other !== i) {
          ctx.addIssue({ code: 'custom', path: ['plans', i, 'projects'], message: `project "${proj}" already has plans[${other}] (${f.plans[other]!.id}) effective from the same instant; which applies would be ambiguous` });
        }
        seen.set(key, i);
      }
      const meters = new Map<string, number>();
      p.charges.forEach((c, j) => {
        const prev = meters.get(c.meter);
        if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['plans', i, 'charges', j, 'meter'], message: `meter "${c.meter}" is already charged by charges[${prev}] of this plan` });
        meters.set(c.meter, j);
      });
    });
  });

export interface PlanVersion {
  id: string;
  description?: string;
  projects: string[];
  effectiveFrom: Date;
  charges: Charge[];
}

export interface PriceBook {
  currency: string;
  rounding: (typeof ROUNDING_MODES)[number];
  timezone: string;
  plans: PlanVersion[];
}

function toPriceBook(f: z.output<typeof planFileSchema>): PriceBook {
  return {
    currency: f.currency,
    rounding: f.rounding,
    timezone: f.timezone,
    plans: f.plans.map((p) => ({
      id: p.id,
      description: p.description,
      projects: p.projects,
      effectiveFrom: parseDateInZone(p.effective_from, f.timezone),
      charges: p.charges,
    })),
  };
}

/** Load and validate a plan file; errors are YamlValidationError naming file:line: path: problem. */
export function loadPlanFile(file: string): PriceBook {
  return toPriceBook(loadYamlFile(file, planFileSchema));
}

export function parsePlan(text: string, file = 'plan.yaml'): PriceBook {
  return toPriceBook(validateYaml(parseYaml(text, file), planFileSchema));
}

/**
 * The plan version that prices `projectId`'s usage for a period starting at `periodStart`: among
 * versions naming the project explicitly, the one with the latest effective_from ≤ periodStart;
 * only when none applies, the same choice among the "*" versions.
 */
export function selectPlan(book: PriceBook, projectId: string, periodStart: Date): PlanVersion | undefined {
  const pick = (match: (p: PlanVersion) => boolean) => {
    let best: PlanVersion | undefined;
    for (const p of book.plans) {
      if (!match(p) || p.effectiveFrom > periodStart) continue;
      if (!best || p.effectiveFrom > best.effectiveFrom) best = p;
    }
    return best;
  };
  return pick((p) => p.projects.includes(projectId)) ?? pick((p) => p.projects.includes('*'));
}
