import type { Db } from 'mongodb';
import type { MeteringConfig } from '../app/config';
import type { RoutePlugin } from '../controller/server';
import { billingRoutes as invoiceRoutes } from './invoices/routes';
import { jobRoutes } from './jobs/routes';
import type { JobsRuntime } from './jobs/runtime';

/**
 * Controller routes of the billing path:
 *   /v1/jobs…                                  enqueue and follow mediation/rating/invoice/report jobs (`jobs/routes.ts`)
 *   /v1/usage, /v1/invoices…, /v1/reports/usage  mediated usage, invoices and their ledger, usage trends (`invoices/routes.ts`)
 */
export function billingRoutes(runtime: JobsRuntime, opts: { db: Db; config: MeteringConfig }): RoutePlugin[] {
  return [jobRoutes(runtime, opts.config), invoiceRoutes(opts)];
}

export { invoiceRoutes, jobRoutes };
