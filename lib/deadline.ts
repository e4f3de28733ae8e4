/**
 * `work`, or the error `late()` makes once `ms` pass first. The work is not cancelled: it may still
 * settle later, unobserved (never an unhandled rejection). The timer is cleared either way.
 */
export async function withinMs<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => undefined);
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(late()), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
