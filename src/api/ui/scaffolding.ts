import type { FastifyInstance, FastifyReply } from 'fastify';
import { listTemplates } from '../../db/queries';
import { listScaffolding } from '../../db/scaffolding';
import { NIL_UUID, Tier, TIERS } from '../../domain/enums';
import { BulkgenError, isBulkgenError } from '../../errors';
import { describeCounts } from '../../scaffolding/describe-import';
import { formatProblem, type ImportProblem } from '../../scaffolding/files';
import { importScaffolding, type ImportResult } from '../../scaffolding/import';
import { previewPrompt, type PreviewRequest } from '../../scaffolding/preview';
import { KINDS, type Kind } from '../../scaffolding/write';
import type { ApiDeps } from '../deps';
import { toEmotionalArc, toPersona, toTemplate, toTopic } from '../mappers';
import { field, isUuid, type FormBody } from './form';
import { isHtmx } from './session';
import { MAX_UPLOAD_BYTES, readMultipart, UPLOAD_EXTENSIONS, UPLOAD_EXTENSIONS_TEXT, uploadedFiles } from './upload';

type Row = Record<string, unknown>;

/** Renders a full dashboard page (the UI plugin's `page`). */
export type PageRenderer = (reply: FastifyReply, view: string, data: Row, status?: number) => FastifyReply;

/** A refusal as the page shows it: the catalogue's code and message, and an import's problem lines. */
interface Refusal {
  status: number;
  code: string;
  message: string;
  problems: string[];
}

const KIND_LABELS: Record<Kind, string> = {
  personas: 'Personas',
  emotionalArcs: 'Emotional arcs',
  topics: 'Topics',
  templates: 'Templates',
};

/**
 * The Scaffolding page and its two forms: `GET /scaffolding` (the rows), `GET /scaffolding/preview`
 * (the prompt an item would send: `previewPrompt`, as `POST /v1/templates/preview` answers) and
 * `POST /scaffolding/import` (a multipart file upload into `importScaffolding`, as `POST
 * /v1/scaffolding/import`). Each renders the whole page without JavaScript; htmx asks for the
 * preview's fragment only. A refusal below 500 is shown in the form's result, with its status.
 */
export function scaffoldingPages(ui: FastifyInstance, deps: ApiDeps, page: PageRenderer): void {
  const { db } = deps;
  const render = async (reply: FastifyReply, data: Row, status = 200) =>
    page(reply, 'scaffolding', { ...(await scaffoldingLists(deps)), choice: {}, preview: null, imported: null, ...data }, status);

  ui.get(`/scaffolding`, async (_request, reply) => render(reply, {}));

  ui.get(`/scaffolding/preview`, async (request, reply) => {
    const form = (request.query ?? {}) as FormBody;
    const choice = previewChoice(form);
    const preview = await refusalOr(async () => ({ result: await previewPrompt(db, previewRequest(choice)) }));
    const status = 'status' in preview ? preview.status : 200;
    if (isHtmx(request)) return reply.code(status).type('text/html; charset=utf-8').view('partials/preview', { preview });
    return render(reply, { choice, preview }, status);
  });

  ui.post(`/scaffolding/import`, { preValidation: readMultipart }, async (request, reply) => {
    const form = (request.body ?? {}) as FormBody;
    const dryRun = field(form, 'dryRun') !== undefined;
    const imported = await refusalOr(async () => {
      const file = uploadedOne(uploadedFiles(request));
      return { fileName: file.name, ...importView(await importScaffolding(db, [file], { dryRun })) };
    });
    return render(reply, { imported }, 'status' in imported ? imported.status : 200);
  });
}

/** The rows the page lists and the forms pick from. */
async function scaffoldingLists({ db }: ApiDeps) {
  const [personas, arcs, topics, templates] = await Promise.all([
    listScaffolding<Row>(db, 'personas'),
    listScaffolding<Row>(db, 'emotional_arcs'),
    listScaffolding<Row>(db, 'training_topics'),
    listTemplates(db),
  ]);
  return {
    title: 'Scaffolding',
    nav: 'scaffolding',
    personas: personas.map(toPersona),
    arcs: arcs.map(toEmotionalArc),
    topics: topics.map(toTopic),
    templates: templates.map(toTemplate),
    tiers: TIERS,
    maxUploadMb: MAX_UPLOAD_BYTES / (1024 * 1024),
    uploadAccept: UPLOAD_EXTENSIONS.join(','),
    uploadExtensions: UPLOAD_EXTENSIONS_TEXT,
  };
}

/** What the preview form sent, as the selects show it again. */
function previewChoice(form: FormBody) {
  return {
    personaId: field(form, 'personaId') ?? '',
    emotionalArcId: field(form, 'emotionalArcId') ?? '',
    topicId: field(form, 'topicId') ?? '',
    templateId: field(form, 'templateId') ?? 'auto',
    tier: field(form, 'tier') ?? 'template',
  };
}

/** The form's choice as `previewPrompt` takes it; a malformed field is VALIDATION_FAILED naming it and its value. */
function previewRequest(choice: ReturnType<typeof previewChoice>): PreviewRequest {
  const issues: string[] = [];
  const uuid = (name: keyof typeof choice) => {
    if (!isUuid(choice[name])) issues.push(`${name}: expected a uuid, got '${choice[name]}'`);
    return choice[name];
  };
  const auto = choice.templateId === 'auto' || choice.templateId === '' || choice.templateId === NIL_UUID;
  const req = {
    personaId: uuid('personaId'),
    emotionalArcId: uuid('emotionalArcId'),
    topicId: uuid('topicId'),
    templateId: auto ? undefined : uuid('templateId'),
    tier: Tier.safeParse(choice.tier).data,
  };
  if (req.tier === undefined) issues.push(`tier: expected one of ${TIERS.join(', ')}, got '${choice.tier}'`);
  if (issues.length > 0) throw new BulkgenError('VALIDATION_FAILED', { summary: issues.join('; ') });
  return req;
}

/** The one file of the form, or why there is none to import. */
function uploadedOne(files: ReturnType<typeof uploadedFiles>): { name: string; text: string } {
  const [file] = files;
  if (!file) throw new BulkgenError('VALIDATION_FAILED', { summary: `file: choose a ${UPLOAD_EXTENSIONS_TEXT} file to import (got none)` });
  if (file.text !== undefined) return { name: file.name, text: file.text };
  if (file.problem === 'too-large') {
    throw new BulkgenError('UPLOAD_TOO_LARGE', { file: file.name, limit: `${MAX_UPLOAD_BYTES / (1024 * 1024)} MB` });
  }
  throw new BulkgenError('VALIDATION_FAILED', { summary: `file: '${file.name}' is not UTF-8 text (a ${UPLOAD_EXTENSIONS_TEXT} file is)` });
}

/** An import's changes per kind, worded as `bulkgen import` prints them. */
function importView(result: ImportResult) {
  return {
    dryRun: result.dryRun,
    kinds: KINDS.map((kind) => ({ kind, label: KIND_LABELS[kind], counts: describeCounts(result.changes[kind]), ...result.changes[kind] })),
  };
}

/** Runs `fn`; a catalogued refusal (below 500) becomes what the page shows, anything else goes to the error page. */
async function refusalOr<T extends object>(fn: () => Promise<T>): Promise<T | Refusal> {
  try {
    return await fn();
  } catch (err) {
    if (!isBulkgenError(err) || err.status >= 500) throw err;
    const problems = (err.details as { problems?: ImportProblem[] } | undefined)?.problems ?? [];
    // IMPORT_INVALID's message lists the problems after its first line; the page lists them itself.
    const message = problems.length > 0 ? err.message.split('\n')[0]!.replace(/:$/, '') : err.message;
    return { status: err.status, code: err.code, message, problems: problems.map(formatProblem) };
  }
}
