import { z } from 'zod';
import { controllerConfig, redisConfig } from '../controller/config';
import { ingestConfig, kafkaConfig, storeConfig } from '../pipeline/config';
import { estimatorConfig } from '../estimator/config';
import { profilerConfig } from '../profiler/config';
import { scalerConfig } from '../scaler/config';
import { mediationConfig } from '../pipeline/mediation/config';
import { ratingConfig } from '../pipeline/rating/config';

/**
 * The whole of metering.yaml: one section per component, each defined (and documented) next to the
 * code that uses it. Every key has a default, so an empty file is a valid configuration.
 */
export const meteringConfig = z.strictObject({
  controller: controllerConfig,
  store: storeConfig,
  ingest: ingestConfig,
  kafka: kafkaConfig,
  redis: redisConfig,
  estimator: estimatorConfig,
  profiler: profilerConfig,
  scaler: scalerConfig,
  mediation: mediationConfig,
  rating: ratingConfig,
});

export type MeteringConfig = z.output<typeof meteringConfig>;
