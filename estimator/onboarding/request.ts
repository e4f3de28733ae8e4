import { createHash } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { YamlValidationError } from '../../config/yaml-source';
import type { EstimatorConfig } from '../config';
import { estimateStack, type Estimate } from '../estimate';
import type { SizeModel } from '../event-size';
import type { PollingConfig } from '../polling';

/**
 * The Heat onboarding request, pure: validate the body, resolve nested templates from the request's
 * `files` map (no disk access), estimate the stack. The template is read as `template.yaml` and the
 * environment as `environment.yaml` in a virtual directory, so located errors read
 * `template.yaml:7: resources.web.properties…` and nested names resolve like Heat's `files` map.
 */

export const onboardingBody = z.strictObject({
  /** Heat's stack id (`OS::stack_id`): ties the prediction to the stack's samples (metering.stack metadata). */
  stack_id: z.string().min(1).max(255),
  /** Keystone project the stack is created in: every sample of the stack carries it. */
  project_id: z.string().min(1).max(255),
  /** Stack name (resource names); default: the stack id. */
  stack_name: z.string().min(1).max(255).optional(),
  /** The HOT template text (YAML). */
  template: z.string().min(1),
  /** Nested templates and get_file targets: name as referenced in the template → text. */
  files: z.record(z.string(), z.string()).optional(),
  /** A Heat environment (parameters, parameter_defaults, resource_registry), YAML text. */
  environment: z.string().optional(),
  /** Template parameter values. */
  parameters: z.record(z.string(), z.unknown()).optional(),
  /** When the stack starts producing samples (ISO 8601); default: now. Used for the scaler's signal. */
  arrives_at: z.iso.datetime({ offset: true }).optional(),
});
export type OnboardingBody = z.output<typeof onboardingBody>;

/** Virtual directory the request's template, environment and files live in. */
const VROOT = '/heat-onboarding';
export const TEMPLATE_FILE = 'template.yaml';
export const ENVIRONMENT_FILE = 'environment.yaml';

/** Strip the virtual directory from located messages: `/heat-onboarding/template.yaml:7:` → `template.yaml:7:`. */
export const unroot = (s: string): string => s.split(`${VROOT}/`).join('');

/** Normalise a `files` key or a reference: `file:///a/b.yaml`, `./b.yaml`, `b.yaml` compare by path. */
function norm(name: string): string {
  return name.replace(/^file:\/*/, '').replace(/\/+/g, '/').replace(/^(\.\/)+/, '').replace(/^\//, '');
}

/** A readFile over the request's files map (absolute virtual path in, text out; missing → throws). */
export function filesReader(files: Record<string, string>): (file: string) => string {
  const byNorm = new Map(Object.entries(files).map(([k, v]) => [norm(k), v]));
  return (file: string) => {
    const rel = path.relative(VROOT, path.resolve(file));
    const hit = byNorm.get(norm(rel)) ?? byNorm.get(norm(file));
    if (hit === undefined) {
      const known = [...byNorm.keys()];
      throw new Error(`not in the request's files (${known.length ? `given: ${known.slice(0, 10).join(', ')}` : 'no files given'})`);
    }
    return hit;
  };
}

/** SHA-256 over the template, the environment and the files (sorted by name): same inputs, same hash. */
export function templateHash(b: Pick<OnboardingBody, 'template' | 'files' | 'environment'>): string {
  const h = createHash('sha256');
  const part = (label: string, text: string) => h.update(`${label}\0${Buffer.byteLength(text)}\0${text}\0`);
  part('template', b.template);
  if (b.environment !== undefined) part('environment', b.environment);
  for (const name of Object.keys(b.files ?? {}).sort()) part(`file:${name}`, b.files![name]!);
  return `sha256:${h.digest('hex')}`;
}

/** A template problem with its location (file:line: path: message), for the 422 answer. */
export class TemplateError extends Error {
  constructor(message: string, readonly issues: Array<{ file: string; line: number; path: string; message: string }>) {
    super(message);
  }
}

export interface OnboardingEstimateOptions {
  config?: Partial<EstimatorConfig>;
  sizeModel?: SizeModel;
  pollingConfig?: PollingConfig;
}

/** Estimate the stack of an onboarding request. Template problems throw TemplateError (located). */
export function estimateOnboarding(body: OnboardingBody, opts: OnboardingEstimateOptions = {}): Estimate {
  try {
    const e = estimateStack({
      template: { text: body.template, file: path.join(VROOT, TEMPLATE_FILE) },
      environment: body.environment !== undefined ? { text: body.environment, file: path.join(VROOT, ENVIRONMENT_FILE) } : undefined,
      params: body.parameters,
      readFile: filesReader(body.files ?? {}),
      sizeModel: opts.sizeModel,
      pollingConfig: opts.pollingConfig,
      config: opts.config,
      stackName: body.stack_name ?? body.stack_id,
      stackId: body.stack_id,
    });
    e.template = unroot(e.template);
    e.warnings = e.warnings.map(unroot);
    return e;
  } catch (err) {
    if (err instanceof YamlValidationError) {
      throw new TemplateError(
        unroot(err.message),
        err.issues.map((i) => ({ file: unroot(i.file), line: i.line, path: i.path, message: unroot(i.message) })),
      );
    }
    if (err instanceof RangeError || err instanceof TypeError) throw err;
    // Anything else the analysis rejects (e.g. dbstats without stats) is still the request's problem.
    throw new TemplateError(unroot((err as Error).message), []);
  }
}
