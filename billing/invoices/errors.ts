/** What the invoice repository (mongo-repository.ts) refuses, as errors the routes and jobs map to answers (409). */

export class InvoiceImmutableError extends Error {
  constructor(readonly number: string) {
    super(`invoice ${number} is issued and cannot change; record a correction instead (it becomes an adjustment on the next invoice)`);
  }
}

/** A draft took pending corrections or credits that another invoice of the account has since consumed. */
export class StaleDraftError extends Error {
  constructor(readonly number: string) {
    super(`draft ${number} is stale: pending corrections or credits it includes went onto another issued invoice; redraft it before issuing`);
  }
}
