import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { BEARER_SECURITY } from '../auth';
import { ALLOWED_FROM, signalJob } from '../../batches/control';
import { ControlResponse, errors, JobIdParams } from '../schemas';
import type { ApiDeps } from '../deps';

const ACTIONS = {
  pause: 'Pause a batch: no new item starts, in-flight items finish',
  resume: 'Resume a paused batch',
  cancel: 'Cancel a batch: in-flight items are cancelled, unstarted items become cancelled',
} as const;

/**
 * POST /batches/:id/{pause,resume,cancel}: each sends the signal of that
 * name to workflow batch-<id> and answers 202; the workflow changes the
 * status. 409 when the job's current status does not allow the action.
 */
export const batchControlRoutes: FastifyPluginAsyncZod<ApiDeps> = async (app, deps) => {
  for (const [action, summary] of Object.entries(ACTIONS) as Array<[keyof typeof ACTIONS, string]>) {
    app.post(
      `/batches/:id/${action}`,
      {
        schema: {
          summary,
          description: `Accepted while the job is ${ALLOWED_FROM[action].join(', ')}; otherwise 409 INVALID_TRANSITION.`,
          tags: ['batches'],
          security: BEARER_SECURITY,
          params: JobIdParams,
          response: { 202: ControlResponse, ...errors(400, 401, 404, 409, 429, 500, 503) },
        },
      },
      async (request, reply) => {
        await signalJob(deps, request.params.id, action);
        return reply.code(202).send({ jobId: request.params.id, action, accepted: true as const });
      },
    );
  }
};
