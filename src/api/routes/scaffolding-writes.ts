import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { deleteScaffoldingRow, findScaffoldingRow } from '../../db/scaffolding-writes';
import { BulkgenError } from '../../errors';
import { TEMPLATE_VARIABLES } from '../../generation/template-check';
import { importScaffolding } from '../../scaffolding/import';
import { previewPrompt } from '../../scaffolding/preview';
import { TIERS } from '../../domain/enums';
import { createScaffolding, KIND_COLUMNS, KINDS, patchScaffolding, type Kind } from '../../scaffolding/write';
import type { PromptTemplateRow } from '../../domain/rows';
import { BEARER_SECURITY } from '../auth';
import type { ApiDeps } from '../deps';
import { toEmotionalArc, toPersona, toTemplate, toTopic } from '../mappers';
import { EmotionalArc, errors, listOf, patchOf, Persona, RowIdParams, Template, TemplateVariableOut, Topic } from '../schemas';
import { EmotionalArcWrite, PersonaWrite, TemplateWrite, TopicWrite } from '../../scaffolding/schemas';

type Row = Record<string, unknown>;

/** Each kind's path, names, schemas and mapper. */
const ROUTES = {
  personas: { path: '/personas', one: 'persona', key: 'personaKey', write: PersonaWrite, out: Persona, map: toPersona },
  emotionalArcs: {
    path: '/emotional-arcs',
    one: 'emotional arc',
    key: 'arcKey',
    write: EmotionalArcWrite,
    out: EmotionalArc,
    map: toEmotionalArc,
  },
  topics: { path: '/topics', one: 'training topic', key: 'topicKey', write: TopicWrite, out: Topic, map: toTopic },
  templates: {
    path: '/templates',
    one: 'prompt template',
    key: 'templateName',
    write: TemplateWrite,
    out: Template,
    map: (r: Row) => toTemplate(r as unknown as PromptTemplateRow),
  },
} as const satisfies Record<Kind, { path: string; one: string; key: string; write: z.ZodObject; out: z.ZodType; map: (r: Row) => unknown }>;

const common = { tags: ['scaffolding'], security: BEARER_SECURITY };

const ImportBody = z.strictObject({
  fileName: z
    .string()
    .min(1)
    .max(500)
    .optional()
    .describe('named in problems, and its extension picks the format (.yaml, .yml, .json, .csv); default upload.yaml'),
  content: z.string().min(1, 'must not be empty').describe('the file: YAML or JSON'),
  dryRun: z.boolean().optional().describe('answer what would change, write nothing'),
});
const PreviewBody = z.strictObject({
  personaId: z.guid({ error: (iss) => `expected a uuid, got '${String(iss.input)}'` }),
  emotionalArcId: z.guid({ error: (iss) => `expected a uuid, got '${String(iss.input)}'` }),
  topicId: z.guid({ error: (iss) => `expected a uuid, got '${String(iss.input)}'` }),
  tier: z.enum(TIERS, { error: `expected one of ${TIERS.join(', ')}` }).optional(),
});
const PreviewOut = z
  .object({
    template: z.object({
      id: z.string(),
      templateName: z.string(),
      version: z.number(),
      tier: z.enum(TIERS),
      emotionalArcType: z.string().nullable(),
    }),
    selection: z.object({ rule: z.enum(['arc_and_tier', 'arc_any_tier', 'tier_any_arc']), reason: z.string() }).nullable(),
    prompt: z.string(),
    characters: z.number(),
    estimatedTokens: z.number().describe('ceil(characters / 4)'),
  })
  .meta({ id: 'Preview' });
const KindChangesOut = z.object({
  added: z.array(z.string()),
  changed: z.array(z.object({ key: z.string(), fields: z.array(z.string()) })),
  unchanged: z.number(),
});
const ImportResultOut = z
  .object({
    dryRun: z.boolean(),
    changes: z.object(Object.fromEntries(KINDS.map((k) => [k, KindChangesOut])) as Record<Kind, typeof KindChangesOut>),
  })
  .meta({ id: 'ImportResult' });

/**
 * Writes to the scaffolding: `GET/PATCH/DELETE <path>/:id` and `POST <path>` for personas, emotional arcs,
 * topics and templates. A template is checked when written (422 TEMPLATE_INVALID), a natural key is unique
 * (409 DUPLICATE_KEY), a referenced row is never deleted (409 ROW_REFERENCED; retire it with
 * `PATCH { isActive: false }`).
 */
export const scaffoldingWriteRoutes: FastifyPluginAsyncZod<ApiDeps> = async (app, { db }) => {
  app.get(
    '/templates/variables',
    {
      schema: {
        ...common,
        summary: 'The variables a template may use as {{name}}',
        response: { 200: listOf(TemplateVariableOut), ...errors(401, 500) },
      },
    },
    async () => ({ items: TEMPLATE_VARIABLES.map((v) => ({ ...v })) }),
  );

  const previewSchema = (summary: string, withId: boolean) => ({
    ...common,
    summary,
    description:
      'The prompt an item with these rows would send, rendered as the item chain renders it; no model is called. ' +
      '`estimatedTokens` is ceil(characters / 4). 422 TEMPLATE_NOT_FOUND or TEMPLATE_MISSING_PLACEHOLDER as the item would fail; ' +
      '422 UNKNOWN_REFERENCE for an id of the body that names no row' +
      (withId ? '; 404 for the template of the path.' : '.'),
    ...(withId ? { params: RowIdParams } : {}),
    body: PreviewBody,
    response: { 200: PreviewOut, ...(withId ? errors(400, 401, 404, 422, 500, 503) : errors(400, 401, 422, 500, 503)) },
  });
  app.post(
    '/templates/preview',
    { schema: previewSchema('Preview the prompt with the auto-selected template, and why it was picked', false) },
    async (request) => previewPrompt(db, request.body),
  );
  app.post(
    '/templates/:id/preview',
    { schema: { ...previewSchema('Preview the prompt of one template', true), params: RowIdParams } },
    async (request) => previewPrompt(db, { ...request.body, templateId: request.params.id }, { templateInPath: true }),
  );

  app.post(
    '/scaffolding/import',
    {
      schema: {
        ...common,
        summary: 'Import personas, arcs, topics and templates from one YAML or JSON file, all or nothing',
        description:
          'The file format of `bulkgen import` (README, Bring your own data). Rows are upserted by natural key in one ' +
          'transaction; `dryRun` only answers what would change. 422 IMPORT_INVALID lists every problem with line and field.',
        body: ImportBody,
        response: { 200: ImportResultOut, ...errors(400, 401, 422, 500, 503) },
      },
      bodyLimit: 10 * 1024 * 1024,
    },
    async (request) =>
      importScaffolding(db, [{ name: request.body.fileName ?? 'upload.yaml', text: request.body.content }], {
        dryRun: request.body.dryRun === true,
      }),
  );

  for (const kind of Object.keys(ROUTES) as Kind[]) {
    const r = ROUTES[kind];
    const table = KIND_COLUMNS[kind].table;
    const out = r.out as z.ZodType<unknown>;
    const map = r.map as (row: Row) => unknown;
    const templateNote =
      kind === 'templates' ? ' `variables` is derived from templateText; every placeholder must be a known variable.' : '';

    app.get(
      `${r.path}/:id`,
      { schema: { ...common, summary: `One ${r.one}`, params: RowIdParams, response: { 200: out, ...errors(400, 401, 404, 500, 503) } } },
      async (request) => {
        const row = await findScaffoldingRow(db, table, request.params.id);
        if (!row) throw new BulkgenError('NOT_FOUND', { what: `${table} row '${request.params.id}'` });
        return map(row);
      },
    );

    app.post(
      r.path,
      {
        schema: {
          ...common,
          summary: `Create a ${r.one}`,
          description: `409 DUPLICATE_KEY when ${r.key} exists.${templateNote}`,
          body: r.write,
          response: { 201: out, ...errors(400, 401, 409, 422, 500, 503) },
        },
      },
      async (request, reply) => {
        const row = await createScaffolding(db, kind, request.body as Row);
        return reply
          .code(201)
          .header('location', `/v1${r.path}/${String(row.id)}`)
          .send(map(row));
      },
    );

    app.patch(
      `${r.path}/:id`,
      {
        schema: {
          ...common,
          summary: `Change some fields of a ${r.one}`,
          description: `\`{ isActive: false }\` retires it: new batches cannot pick it (422 UNKNOWN_REFERENCE).${templateNote}`,
          params: RowIdParams,
          body: patchOf(r.write),
          response: { 200: out, ...errors(400, 401, 404, 409, 422, 500, 503) },
        },
      },
      async (request) => map(await patchScaffolding(db, kind, request.params.id, request.body as Row)),
    );

    app.delete(
      `${r.path}/:id`,
      {
        schema: {
          ...common,
          summary: `Delete a ${r.one} nothing refers to`,
          description: '409 ROW_REFERENCED when a batch item or a conversation refers to it; nothing is deleted or deactivated.',
          params: RowIdParams,
          response: { 204: z.null().describe('deleted'), ...errors(400, 401, 404, 409, 500, 503) },
        },
      },
      async (request, reply) => {
        await deleteScaffoldingRow(db, table, request.params.id);
        return reply.code(204).send(null);
      },
    );
  }
};
