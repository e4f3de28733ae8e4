/**
 * Dead-letter reasons as a bounded set of Prometheus label values (pure). A reason names the field
 * at fault first (`timestamp: …`, `message_signature: …`, `body: …`); that field is the class. The
 * store's own refusals are `store_refused`; anything else is `other`. At most MAX_CLASSES distinct
 * classes are ever handed out, so hostile input cannot grow the metric's label set without bound.
 */
export const MAX_CLASSES = 64;

export function reasonClass(reason: string): string {
  if (reason.startsWith('the store refused')) return 'store_refused';
  const m = /^([A-Za-z_][A-Za-z0-9_.]{0,39}):/.exec(reason);
  return m ? m[1]! : 'other';
}

/** Hands out reason classes, folding new ones into `other` once MAX_CLASSES are in use. */
export class ReasonClasses {
  private readonly seen = new Set<string>(['other']);
  constructor(private readonly max = MAX_CLASSES) {}

  of(reason: string): string {
    const c = reasonClass(reason);
    if (this.seen.has(c)) return c;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(c);
    return c;
  }
}
