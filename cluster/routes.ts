import type { FastifyInstance } from 'fastify';
import type { RoutePlugin } from '../controller/server';
import { SINGLETON_ROLES } from './config';
import type { ClusterControllersView } from './view';

/** Where the route reads the cluster from (the running cluster module). */
export interface ClusterSource {
  id: string;
  view(): Promise<ClusterControllersView & { local: Array<{ role: string; leading: boolean; token: number | null; valid_for_ms: number | null }> }>;
}

const anyObject = { type: 'object', additionalProperties: true } as const;

/** GET /v1/cluster/controllers (admin): the live controllers and who leads each singleton. */
export function clusterRoutes(opts: { cluster?: ClusterSource; solo?: { id: string } }): RoutePlugin {
  return (app: FastifyInstance) => {
    app.get(
      '/v1/cluster/controllers',
      {
        config: { roles: ['admin'] },
        schema: {
          summary: 'The controllers of this deployment: each one\'s address, heartbeat and Kafka partitions, which one leads each singleton job (scaler, billing-cycle, late-data), the lease expiry and fencing token',
          tags: ['cluster'],
          response: { 200: anyObject },
        },
      },
      async () => {
        if (opts.cluster) return { clustered: true, ...(await opts.cluster.view()) };
        const id = opts.solo?.id ?? 'this controller';
        return {
          clustered: false,
          controller: id,
          note: 'cluster.enabled is false: this controller runs every singleton job itself, unfenced; turn cluster.enabled on in every controller to run several (docs/cluster.md)',
          singletons: SINGLETON_ROLES.map((role) => ({ role, leader: id, token: null })),
        };
      },
    );
  };
}
