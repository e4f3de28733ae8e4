import { readFileSync } from 'node:fs';
import { CliError, printJson, type RegisterCommands } from '../cli/registry';
import { readYamlFile, YamlValidationError } from '../config/yaml-source';
import { loadConfig } from '../app/config';
import { estimatorConfig, type EstimatorConfig } from './config';
import { estimateJson, estimateStack } from './estimate';
import { formatEstimate } from './format';
import { defaultPolling, pollingFromYaml } from './polling';
import { measurePriors } from './priors';
import { addAccuracyCommand } from './accuracy/cli';

/**
 * `metering estimate TEMPLATE [--param k=v]… [--env FILE] [--polling FILE] [--catalog C] [--json]`
 * `metering estimate accuracy TEMPLATE…`   measured estimate vs actual through real ingestion (estimator/accuracy/)
 * `metering estimate-priors`   re-measure the per-meter size priors (BSON size of reference documents)
 */

function estimatorSection(configFile: string | undefined): EstimatorConfig {
  const all = loadConfig(configFile) as unknown as Record<string, unknown>;
  return estimatorConfig.parse(all.estimator ?? {});
}

function readTemplate(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`${file}:0: cannot read template: ${(e as Error).message}`, 1);
  }
}

function collectParam(v: string, acc: Record<string, string>): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0) throw new CliError(`--param expects key=value, got "${v}"`, 2);
  acc[v.slice(0, i)] = v.slice(i + 1);
  return acc;
}

export const register: RegisterCommands = (program) => {
  const estimate = program
    .command('estimate')
    .description('Estimate the Ceilometer metering data a Heat (HOT) template will add: events and bytes per interval/day/week/month')
    .argument('<template>', 'HOT template file (nested templates are resolved relative to it)')
    .option('-p, --param <key=value>', 'template parameter value (repeatable); typed per the parameter type', collectParam, {})
    .option('-e, --env <file>', 'Heat environment file (parameters, parameter_defaults, resource_registry)')
    .option('--polling <file>', 'Ceilometer polling.yaml or pre-8.0.0 pipeline.yaml (default: config, else embedded master polling.yaml)')
    .option('--catalog <name>', 'meter catalog: master | legacy (default: legacy for a pipeline.yaml, else master)')
    .option('--stack-name <name>', 'stack name used for resource names (default: template file name)')
    .option('--json', 'print the estimate as one JSON object')
    .action((template: string, opts: { param: Record<string, string>; env?: string; polling?: string; catalog?: string; stackName?: string; json?: boolean }) => {
      try {
        const cfg = estimatorSection(program.opts().config as string | undefined);
        if (opts.catalog !== undefined) {
          if (opts.catalog !== 'master' && opts.catalog !== 'legacy') throw new CliError(`--catalog must be master or legacy, got "${opts.catalog}"`, 2);
          cfg.catalog = opts.catalog;
        }
        const pollingFile = opts.polling ?? cfg.polling_file;
        const pollingConfig = pollingFile ? pollingFromYaml(readYamlFile(pollingFile)) : defaultPolling();
        const e = estimateStack({
          template: { text: readTemplate(template), file: template },
          params: opts.param,
          environment: opts.env ? readYamlFile(opts.env) : undefined,
          pollingConfig,
          readFile: (f) => readFileSync(f, 'utf8'),
          config: cfg,
          stackName: opts.stackName,
        });
        if (opts.json) printJson(estimateJson(e));
        else process.stdout.write(formatEstimate(e));
      } catch (err) {
        if (err instanceof YamlValidationError) throw new CliError(err.message, 1);
        if (err instanceof CliError) throw err;
        throw new CliError((err as Error).message, 1);
      }
    });
  addAccuracyCommand(estimate, program);
  program
    .command('estimate-priors')
    .description('Measure the per-meter event size priors: BSON size of the meter documents of a reference stack')
    .action(() => printJson(measurePriors()));
};
