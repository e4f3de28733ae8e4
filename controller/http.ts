import type { FastifyReply } from 'fastify';
import type { z } from 'zod';
import { canAccessProject, type Principal } from './auth';

/** The body of every refusal: a short code, a sentence naming what is wrong, sometimes a reason. */
export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' }, reason: { type: 'string' } },
  additionalProperties: true,
} as const;

/**
 * The project a request may work on: the one it asks for (if its token may see it), else the token's
 * own scope; `undefined` means every project (an unscoped token asking for none).
 */
export function projectScope(principal: Principal, requested: string | undefined): { project: string | undefined } | 'forbidden' {
  if (requested !== undefined) return canAccessProject(principal, requested) ? { project: requested } : 'forbidden';
  return { project: principal.project };
}

/** 403 for a project outside the token's scope. */
export function refuseProject(reply: FastifyReply, principal: Principal, project: string) {
  return reply.code(403).send({ error: 'forbidden', message: `token "${principal.name}" is scoped to project ${principal.project} and may not see or act on project ${project}` });
}

/** Every zod issue as `where.path: message`, joined by "; ". */
export function zodMessage(err: z.ZodError, where: string): string {
  return err.issues.map((i) => `${where}${i.path.length ? `.${i.path.join('.')}` : ''}: ${i.message}`).join('; ');
}
