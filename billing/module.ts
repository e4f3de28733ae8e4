/**
 * Billing in the running product: mediation, rating, invoices and reports, driven by the BullMQ
 * jobs on Redis and the late-sample tracker on the ingestion hook (`jobs/module.ts`).
 * `app/modules.ts` lists `billingModule`.
 */
export { jobsModule as billingModule, type JobsModule as BillingModule, type JobsRuntime, type JobCounters } from './jobs/module';
