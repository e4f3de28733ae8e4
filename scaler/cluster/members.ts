import type { Document } from 'mongodb';
import { withDirect } from './local';

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The primary of a replica set, asked through any listed member (`hello.primary`). */
export async function primaryOf(hosts: readonly string[]): Promise<string> {
  for (const h of hosts) {
    const hello = await withDirect(h, (a) => a.command({ hello: 1 })).catch(() => undefined);
    if (hello?.isWritablePrimary) return h;
    if (typeof hello?.primary === 'string') return hello.primary;
  }
  throw new Error(`no primary among ${hosts.join(', ')}`);
}

/**
 * Give `members` a vote (votes 1, priority 1), one member per `replSetReconfig` as MongoDB's safe
 * reconfig requires; a reconfig refused because the previous one is not yet committed is retried.
 */
export async function grantVotes(hosts: readonly string[], members: readonly string[], o: { timeoutMs?: number; sleep?: (ms: number) => Promise<void> } = {}): Promise<void> {
  const sleep = o.sleep ?? defaultSleep;
  for (const host of members) {
    const deadline = Date.now() + (o.timeoutMs ?? 120_000);
    for (;;) {
      try {
        const primary = await primaryOf(hosts);
        await withDirect(primary, async (admin) => {
          const { config } = await admin.command({ replSetGetConfig: 1 });
          const m = (config.members as Document[]).find((x) => x.host === host);
          if (!m) throw new Error(`${host} is not a member of ${config._id}`);
          if (m.votes === 1) return;
          m.votes = 1;
          m.priority = 1;
          config.version = Number(config.version) + 1;
          await admin.command({ replSetReconfig: config });
        });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`could not give ${host} a vote: ${(err as Error).message}`);
        await sleep(1000);
      }
    }
  }
}
