/**
 * The documents whose writes are fenced effects (`fencedWrite`: the write carries the token in its
 * filter), per singleton role. When a role's fence advances to a token, FenceStore.advance raises the
 * token these documents carry to it, so a write with a lower token is refused from then on, also on
 * a document the new leader has not written yet: the role's fence, not the document's last writer,
 * decides. Data only (no imports), so the modules that own these documents take their names from here.
 */
export interface FencedDocuments {
  collection: string;
  /** Documents by id, created (holding only the token) when absent, so a stale upsert cannot create them either. */
  ids?: string[];
  /** Or every document matching this filter (existing ones only: these are never written by an upsert). */
  filter?: Record<string, unknown>;
}

/** The billing cycle's progress (`counters/billing-cycle`, billing/jobs/cycle.ts). */
export const BILLING_CYCLE_PROGRESS = { collection: 'counters', id: 'billing-cycle' } as const;
/** The compliance alerts (compliance/alerts.ts): a resolve of an open alert is fenced. */
export const COMPLIANCE_ALERTS_COLLECTION = 'compliance_alerts';

export const FENCED_DOCUMENTS: Readonly<Record<string, readonly FencedDocuments[]>> = {
  'billing-cycle': [{ collection: BILLING_CYCLE_PROGRESS.collection, ids: [BILLING_CYCLE_PROGRESS.id] }],
  compliance: [{ collection: COMPLIANCE_ALERTS_COLLECTION, filter: { state: 'open' } }],
};
