import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { listTemplates } from '../../db/queries';
import { listScaffolding } from '../../db/scaffolding';
import { BEARER_SECURITY } from '../auth';
import { toEmotionalArc, toPersona, toTemplate, toTopic } from '../mappers';
import { EmotionalArc, errors, listOf, ListTemplatesQuery, Persona, Template, Topic } from '../schemas';
import type { ApiDeps } from '../deps';

const common = { tags: ['scaffolding'], security: BEARER_SECURITY };
const failures = errors(400, 401, 429, 500, 503);

/** Read-only scaffolding: what a batch can be made of (ids for the start body). */
export const scaffoldingRoutes: FastifyPluginAsyncZod<ApiDeps> = async (app, { db }) => {
  app.get(
    '/personas',
    { schema: { ...common, summary: 'List personas by key', response: { 200: listOf(Persona), ...failures } } },
    async () => ({ items: (await listScaffolding<Record<string, unknown>>(db, 'personas')).map(toPersona) }),
  );

  app.get(
    '/emotional-arcs',
    { schema: { ...common, summary: 'List emotional arcs by key', response: { 200: listOf(EmotionalArc), ...failures } } },
    async () => ({ items: (await listScaffolding<Record<string, unknown>>(db, 'emotional_arcs')).map(toEmotionalArc) }),
  );

  app.get(
    '/topics',
    { schema: { ...common, summary: 'List training topics by key', response: { 200: listOf(Topic), ...failures } } },
    async () => ({ items: (await listScaffolding<Record<string, unknown>>(db, 'training_topics')).map(toTopic) }),
  );

  app.get(
    '/templates',
    {
      schema: {
        ...common,
        summary: 'List prompt templates by name',
        description: '`tier` keeps one tier; `arc` keeps the templates written for one arc key (emotionalArcType).',
        querystring: ListTemplatesQuery,
        response: { 200: listOf(Template), ...failures },
      },
    },
    async (request) => ({ items: (await listTemplates(db, { tier: request.query.tier, arcKey: request.query.arc })).map(toTemplate) }),
  );
};
