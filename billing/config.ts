import { mediationConfig, type MediationConfig } from './mediation/config';
import { ratingConfig, type RatingConfig } from './rating/config';

/**
 * The configuration sections of the billing path, as `app/config.ts` composes them into
 * metering.yaml: `mediation` (periods, carry-forward, how mediation runs, late data) and `rating`
 * (price plan, invoices, billing cycle). Each schema, with its field comments, lives beside its core.
 */
export { mediationConfig, ratingConfig, type MediationConfig, type RatingConfig };

/** Top-level key → schema, for the composition of the whole configuration. */
export const billingSections = { mediation: mediationConfig, rating: ratingConfig } as const;
