import type { RegisterCommands } from '../cli/registry';
import { registerMediationCommands } from './mediation/cli';
import { registerJobsCommands } from './jobs/cli';
import { registerRatingCommands } from './rating/cli';
import { registerLedgerCommands } from './invoices/cli';

/**
 * Commands of the billing path: `metering mediate`, `metering jobs …`, `metering rate|report|invoice`
 * and `metering ledger|reconcile` (in this order in `metering --help`).
 */
export const register: RegisterCommands = (program) => {
  registerMediationCommands(program);
  registerJobsCommands(program);
  registerRatingCommands(program);
  registerLedgerCommands(program);
};
