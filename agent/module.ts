import type { AppModule, ModuleFactory } from '../controller/app';
import { redactedRedisUrl } from '../billing/jobs/connection';
import { RequestBroker } from './broker';
import { agentRedisUrl } from './config';
import { agentRoutes } from './routes';

/**
 * The host agents' controller side: the request broker on Redis (registry fed by heartbeats,
 * request/reply by resource id), the routes /v1/agents…, /v1/resources/:id/raw, /v1/hosts/series,
 * and the broker's counters in /metrics. When Redis cannot be reached the product still starts:
 * the agent routes answer 503 naming why, and the broker connects as soon as Redis answers.
 */
export interface AgentControllerModule extends AppModule {
  /** The broker once connected. */
  broker(): RequestBroker | undefined;
}

export const agentModule: ModuleFactory = async (svc): Promise<AgentControllerModule> => {
  const config = svc.config.agent.controller;
  const log = svc.log.child({ component: 'agent-broker' });
  const redisUrl = svc.config.redis.url;
  let broker: RequestBroker | undefined;
  let why = config.enabled ? `redis at ${redactedRedisUrl(redisUrl)}: not connected yet` : 'agent.controller.enabled is false';
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    try {
      const b = await RequestBroker.start({ redisUrl, redisTls: svc.config.redis.tls, prefix: config.channel_prefix, timeoutMs: config.request_timeout_ms, maxInFlight: config.max_in_flight, missedHeartbeats: config.missed_heartbeats, log });
      if (closed) {
        await b.close();
        return;
      }
      broker = b;
      log.info({ id: b.id }, 'agent request broker connected');
    } catch (err) {
      const next = (err as Error).message;
      if (next !== why) log.warn(`agent request broker not connected (retrying every 5 s): ${next}`);
      why = next;
      if (!closed) {
        retry = setTimeout(() => void connect(), 5000);
        retry.unref();
      }
    }
  };
  if (config.enabled) await connect();

  svc.metrics.registerSnapshot('host agents: registered hosts and resources, request/reply outcomes', () => {
    const s = broker?.stats;
    return {
      metering_agent_hosts_registered: broker?.registry.size ?? 0,
      metering_agent_resources_registered: broker?.registry.resourceCount ?? 0,
      metering_agent_requests_total: s?.requests ?? 0,
      metering_agent_replies_total: s?.replies ?? 0,
      metering_agent_timeouts_total: s?.timeouts ?? 0,
      metering_agent_heartbeats_total: s?.heartbeats ?? 0,
      metering_agent_requests_in_flight: broker?.inFlight ?? 0,
    };
  });

  return {
    name: 'agent',
    broker: () => broker,
    routes: config.enabled ? [agentRoutes({ broker: () => broker ?? why, config, redisUrl: agentRedisUrl(config, redisUrl) })] : [],
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      await broker?.close();
    },
  };
};
