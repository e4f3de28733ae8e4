import { z } from 'zod';
import { controllerConfig, redisConfig } from '../controller/config';

/**
 * The whole of metering.yaml: one section per component, each defined (and documented) next to the
 * code that uses it. Every key has a default, so an empty file is a valid configuration.
 */
export const meteringConfig = z.strictObject({
  controller: controllerConfig,
  redis: redisConfig,
});

export type MeteringConfig = z.output<typeof meteringConfig>;
