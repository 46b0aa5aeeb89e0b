import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifySecureSession from '@fastify/secure-session';
import fastifyStatic from '@fastify/static';
import fastifyView from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { estimateBatch } from '../../batches/estimate';
import { ALLOWED_FROM, queryProgress, signalJob, type JobAction } from '../../batches/control';
import { retryBatch } from '../../batches/retry';
import { submitParsedBatch } from '../../batches/submit';
import { listFailedGenerations } from '../../db/failed-generations';
import { getJob } from '../../db/jobs';
import { failureGroups, findConversation, findItem, jobCoverage, listItemsPage, listJobsPage, listTemplates } from '../../db/queries';
import { listScaffolding } from '../../db/scaffolding';
import { describeIssues, StartBatchRequest } from '../../domain/batch-request';
import { ITEM_STATUSES, JOB_STATUSES, TERMINAL_JOB_STATUSES, TIERS } from '../../domain/enums';
import type { BatchJobRow } from '../../domain/rows';
import type { CoverageCell, CoverageCellKey } from '../../db/queries';
import { MAX_CONCURRENCY, MAX_ITEMS_PER_BATCH } from '../../domain/limits';
import { BulkgenError, isBulkgenError } from '../../errors';
import { exportConversationLines } from '../../export/jsonl';
import { cacheReadRatio, getJobCost, getJobCosts } from '../../export/job-costs';
import { providerBatchSummary } from '../../db/provider-batches';
import { PROJECT_ROOT } from '../../project-root';
import { workflowIdFor } from '../../temporal/client';
import { keyDigest, keyMatcher } from '../auth';
import { decodeItemCursor, decodeJobCursor, encodeItemCursor, encodeJobCursor } from '../cursor';
import type { ApiDeps } from '../deps';
import { toBulkgenError } from '../errors';
import { toBatchItem, toEmotionalArc, toJob, toPersona, toTemplate, toTopic } from '../mappers';
import { jobStreams } from '../routes/batch-events';
import { startBodyFromForm, field, isUuid, type FormBody } from './form';
import { formatters } from './format';
import { scaffoldingPages } from './scaffolding';
import { isHtmx, requireSession, SESSION_COOKIE, SESSION_MAX_AGE_S, sessionKey } from './session';
import { registerUploads } from './upload';
import { Readable } from 'node:stream';

/** Where the dashboard lives. */
export const UI_PREFIX = '/ui';
const SIGN_IN = `${UI_PREFIX}/sign-in`;
const HERE = path.join(PROJECT_ROOT, 'src', 'api', 'ui');
const require = createRequire(path.join(PROJECT_ROOT, 'package.json'));
const packageDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));

type Row = Record<string, unknown>;

/**
 * The dashboard at /ui: server-rendered pages (Eta templates through @fastify/view), htmx and its SSE
 * extension for the live parts, served from node_modules. Sign-in with an API key into an encrypted
 * session cookie; every POST carries a CSRF token. The pages read and act through the same services
 * and mappers as the REST routes.
 */
export const uiPlugin: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const { config, db } = deps;
  const isKnown = keyMatcher(config.API_KEYS);
  const temporalUi = config.TEMPORAL_UI_URL ?? `http://${config.TEMPORAL_ADDRESS.replace(/:\d+$/, '')}:${config.TEMPORAL_UI_PORT}`;

  // Pages are not part of the REST API's OpenAPI document.
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true };
  });
  await app.register(fastifyFormbody);
  // File uploads (the scaffolding import form), here only: the REST import takes the file's text as JSON.
  await registerUploads(app);
  await app.register(fastifySecureSession, {
    key: sessionKey(config),
    cookieName: SESSION_COOKIE,
    expiry: SESSION_MAX_AGE_S,
    cookie: { path: UI_PREFIX, httpOnly: true, sameSite: 'strict', secure: 'auto', maxAge: SESSION_MAX_AGE_S },
  });
  await app.register(fastifyCsrf, { sessionPlugin: '@fastify/secure-session' });
  await app.register(fastifyView, {
    engine: { eta: new Eta({ autoEscape: true, cache: true }) },
    root: path.join(HERE, 'views'),
    viewExt: 'eta',
    defaultContext: { f: formatters, prefix: UI_PREFIX },
  });
  // Assets: ours, then the vendored ones straight from their packages (never a CDN).
  await app.register(fastifyStatic, { root: path.join(HERE, 'assets'), prefix: '/assets/', maxAge: '1h' });
  const vendor: Array<[string, string]> = [
    ['htmx', path.join(packageDir('htmx.org'), 'dist')],
    ['htmx-ext-sse', packageDir('htmx-ext-sse')],
    ['pico', path.join(packageDir('@picocss/pico'), 'css')],
  ];
  for (const [name, root] of vendor) {
    await app.register(fastifyStatic, { root, prefix: `/vendor/${name}/`, decorateReply: false, maxAge: '1h' });
  }

  app.setErrorHandler((err: FastifyError, request, reply) => uiError(request, reply, err, config.TEMPORAL_ADDRESS));
  app.setNotFoundHandler((request, reply) =>
    uiError(request, reply, new BulkgenError('NOT_FOUND', { what: `page ${request.url.split('?')[0]}` }), config.TEMPORAL_ADDRESS),
  );
  // Every POST, sign-in included; a missing or wrong token is sent to the error handler (403).
  app.addHook('preHandler', (request, reply, done) => (request.method === 'POST' ? app.csrfProtection(request, reply, done) : done()));

  const page = (reply: FastifyReply, view: string, data: Row, status = 200) =>
    reply
      .code(status)
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .view(view, { csrf: reply.generateCsrf(), signedIn: true, ...data });

  // Sign-in and sign-out.
  app.get(`/sign-in`, async (request, reply) =>
    page(reply, 'sign-in', { signedIn: false, next: safeNext(field(request.query as FormBody, 'next')), error: null }),
  );
  app.post(`/sign-in`, async (request, reply) => {
    const form = (request.body ?? {}) as FormBody;
    const key = (field(form, 'apiKey') ?? '').trim();
    const next = safeNext(field(form, 'next'));
    if (key === '' || !isKnown(keyDigest(key))) {
      const error =
        config.API_KEYS.length === 0
          ? 'This server has no API keys (API_KEYS is empty), so nobody can sign in.'
          : key === ''
            ? 'Enter an API key.'
            : 'That key is not one of this server’s API keys (API_KEYS). Check it and try again.';
      request.log.info('dashboard: sign-in refused');
      return page(reply, 'sign-in', { signedIn: false, next, error }, 401);
    }
    request.session.regenerate();
    (request.session as unknown as { set(name: 'key', value: string): void }).set('key', keyDigest(key).toString('hex'));
    return reply.redirect(next, 303);
  });
  app.post(`/sign-out`, async (request, reply) => {
    request.session.delete();
    return reply.redirect(SIGN_IN, 303);
  });

  // Everything else needs a session.
  await app.register(async (ui) => {
    ui.addHook('onRequest', requireSession(config.API_KEYS, SIGN_IN));

    ui.get(`/`, async (_request, reply) => reply.redirect(`${UI_PREFIX}/batches`, 303));

    // New batch.
    ui.get(`/batches/new`, async (request, reply) => {
      const arcsShown = field(request.query as FormBody, 'arcs');
      const [personas, arcs, topics, templates] = await Promise.all([
        listScaffolding<Row>(db, 'personas'),
        listScaffolding<Row>(db, 'emotional_arcs'),
        listScaffolding<Row>(db, 'training_topics'),
        listTemplates(db),
      ]);
      return page(reply, 'new-batch', {
        title: 'New batch',
        nav: 'new',
        personas: personas.map(toPersona).filter((p) => p.isActive),
        arcs: arcs.map(toEmotionalArc).filter((a) => a.isActive),
        arcsShown: arcsShown === 'core' || arcsShown === 'edge' ? arcsShown : 'all',
        topics: topics.map(toTopic).filter((t) => t.isActive),
        templates: templates.map(toTemplate).filter((t) => t.isActive),
        tiers: TIERS,
        maxConcurrency: MAX_CONCURRENCY,
        idempotencyKey: randomUUID(),
        estimate: estimateView(deps, {}),
        error: null,
      });
    });
    ui.post(`/batches/estimate`, async (request, reply) =>
      reply.type('text/html; charset=utf-8').view('partials/estimate', { estimate: estimateView(deps, (request.body ?? {}) as FormBody) }),
    );
    ui.post(`/batches`, async (request, reply) => {
      const form = (request.body ?? {}) as FormBody;
      const parsed = StartBatchRequest.safeParse(startBodyFromForm(form));
      if (!parsed.success) {
        const message = describeIssues(parsed.error)
          .map((i) => `${i.field}: ${i.message}`)
          .join('; ');
        throw new BulkgenError('VALIDATION_FAILED', { summary: message });
      }
      const submitted = await submitParsedBatch(deps, parsed.data, { idempotencyKey: field(form, 'idempotencyKey') || undefined });
      return reply.redirect(`${UI_PREFIX}/batches/${submitted.jobId}`, 303);
    });

    // Batches.
    ui.get(`/batches`, async (request, reply) => {
      const query = request.query as FormBody;
      const status = oneOf(JOB_STATUSES, field(query, 'status'));
      const cursor = field(query, 'cursor');
      const limit = 25;
      const rows = await listJobsPage(db, { status, limit, after: cursor ? decodeJobCursor(cursor) : undefined });
      const jobs = rows.slice(0, limit);
      const costs = await getJobCosts(
        db,
        jobs.map((j) => j.id),
      );
      const last = jobs[jobs.length - 1];
      return page(reply, 'batches', {
        title: 'Batches',
        nav: 'batches',
        statuses: JOB_STATUSES,
        status: status ?? '',
        jobs: jobs.map((row) => ({ ...toJob(row), costUsd: costs.get(row.id)?.costUsd ?? 0 })),
        live: jobs.some((j) => !TERMINAL_JOB_STATUSES.includes(j.status)),
        nextCursor: rows.length > limit && last ? encodeJobCursor({ createdAt: last.created_at, id: last.id }) : null,
        cursor: cursor ?? null,
        url: request.url,
      });
    });

    // Batch.
    ui.get<{ Params: { id: string } }>(`/batches/:id`, async (request, reply) => {
      const job = await getJob(db, uuidParam(request.params.id));
      return page(reply, 'batch', await batchView(deps, job, temporalUi));
    });
    const streams = jobStreams(ui, deps);
    ui.get<{ Params: { id: string } }>(`/batches/:id/live`, async (request, reply) => {
      const csrf = reply.generateCsrf();
      await streams.serve(request, reply, uuidParam(request.params.id), async (row) => {
        const view = await batchView(deps, row, temporalUi);
        return app.view('partials/batch-live', { ...view, csrf, f: formatters, prefix: UI_PREFIX });
      });
    });
    for (const action of ['pause', 'resume', 'cancel'] as const) {
      ui.post<{ Params: { id: string } }>(`/batches/:id/${action}`, async (request, reply) =>
        control(request, reply, uuidParam(request.params.id), action),
      );
    }
    ui.post<{ Params: { id: string } }>(`/batches/:id/concurrency`, async (request, reply) => {
      const value = Number(field(request.body as FormBody, 'concurrentProcessing'));
      if (!Number.isInteger(value) || value < 1 || value > MAX_CONCURRENCY) {
        throw new BulkgenError('VALIDATION_FAILED', {
          summary: `concurrentProcessing: expected a whole number from 1 to ${MAX_CONCURRENCY} (got ${JSON.stringify(field(request.body as FormBody, 'concurrentProcessing') ?? '')})`,
        });
      }
      return control(request, reply, uuidParam(request.params.id), 'setConcurrency', value);
    });
    ui.post<{ Params: { id: string } }>(`/batches/:id/retry`, async (request, reply) => {
      const jobId = uuidParam(request.params.id);
      const withCancelled = field(request.body as FormBody, 'statuses') === 'failed,cancelled';
      const retry = await retryBatch(deps, jobId, { statuses: withCancelled ? ['failed', 'cancelled'] : ['failed'] });
      const done = `Retry ${retry.retry} started: ${formatters.int(retry.items)} items queued again (${retry.statuses.join(' and ')}).`;
      if (isHtmx(request)) return reply.type('text/html; charset=utf-8').view('partials/message', { kind: 'done', message: done });
      return reply.redirect(`${UI_PREFIX}/batches/${jobId}`, 303);
    });
    ui.get<{ Params: { id: string } }>(`/batches/:id/coverage`, async (request, reply) => {
      const job = await getJob(db, uuidParam(request.params.id));
      return page(reply, 'coverage', {
        title: `Coverage of ${job.name}`,
        nav: 'batches',
        job: toJob(job),
        ...coverageGrid(await jobCoverage(db, job.id)),
      });
    });
    ui.get<{ Params: { id: string } }>(`/batches/:id/export`, async (request, reply) => {
      const job = await getJob(db, uuidParam(request.params.id));
      const stream = Readable.from(exportConversationLines(db, job.id, { status: 'completed' }), { objectMode: false });
      return reply
        .type('application/x-ndjson; charset=utf-8')
        .header('content-disposition', `attachment; filename="batch-${job.id}.jsonl"`)
        .send(stream);
    });

    // Items and one item's conversation.
    ui.get<{ Params: { id: string } }>(`/batches/:id/items`, async (request, reply) => {
      const job = await getJob(db, uuidParam(request.params.id));
      const query = request.query as FormBody;
      const status = oneOf(ITEM_STATUSES, field(query, 'status'));
      const cursor = field(query, 'cursor');
      const limit = 50;
      const cell = cellParam(query);
      const rows = await listItemsPage(db, job.id, { status, limit, afterPosition: cursor ? decodeItemCursor(cursor) : undefined, cell });
      const items = rows.slice(0, limit);
      const last = items[items.length - 1];
      const names = await scaffoldingNames(deps);
      return page(reply, 'items', {
        title: `Items of ${job.name}`,
        nav: 'batches',
        job: toJob(job),
        statuses: ITEM_STATUSES,
        status: status ?? '',
        items: items.map(toBatchItem),
        names,
        cell: cell ?? null,
        cellQuery: cell ? `&persona=${cell.personaId}&arc=${cell.emotionalArcId}&topic=${cell.topicId}` : '',
        cursor: cursor ?? null,
        nextCursor: rows.length > limit && last ? encodeItemCursor(last.position) : null,
      });
    });
    ui.get<{ Params: { id: string } }>(`/items/:id`, async (request, reply) => {
      const row = await findItem(db, uuidParam(request.params.id));
      if (!row) throw new BulkgenError('NOT_FOUND', { what: `item '${request.params.id}'` });
      const item = toBatchItem(row);
      const [job, conversation, failures, names] = await Promise.all([
        getJob(db, item.jobId),
        item.conversationId ? findConversation(db, item.conversationId) : undefined,
        listFailedGenerations(db, item.id),
        scaffoldingNames(deps),
      ]);
      const turns = (conversation?.conversation as { turns?: unknown[] } | undefined)?.turns ?? [];
      return page(reply, 'item', {
        title: `Item ${item.position} of ${job.name}`,
        nav: 'batches',
        job: toJob(job),
        item,
        names,
        templateId: conversation?.template_id ?? item.templateId,
        conversation: conversation ?? null,
        turns,
        failures,
      });
    });

    // Scaffolding: the rows, the prompt preview and the import upload.
    scaffoldingPages(ui, deps, page);
  });

  /** Sends a signal through the REST routes' service; a refusal shows the API's message. */
  async function control(request: FastifyRequest, reply: FastifyReply, jobId: string, action: JobAction, concurrency?: number) {
    await signalJob(deps, jobId, action, concurrency);
    const done = {
      pause: 'Pause sent: no new item starts; items in flight finish.',
      resume: 'Resume sent: items start again.',
      cancel: 'Cancel sent: items in flight are cancelled, unstarted items become cancelled.',
      setConcurrency: `Concurrency set to ${concurrency}.`,
      setSpendCap: concurrency == null ? 'Spend cap removed.' : `Spend cap set to $${concurrency}.`,
    }[action];
    if (isHtmx(request)) return reply.type('text/html; charset=utf-8').view('partials/message', { kind: 'done', message: done });
    return reply.redirect(`${UI_PREFIX}/batches/${jobId}`, 303);
  }
};

/** What the estimate fragment shows: N = P x A x T, cost and time, or why Generate is disabled. */
function estimateView(deps: ApiDeps, form: FormBody) {
  const body = startBodyFromForm(form);
  const p = (body.personaIds as string[]).length;
  const a = (body.emotionalArcIds as string[]).length;
  const t = (body.topicIds as string[]).length;
  const n = p * a * t;
  const base = { p, a, t, n, max: MAX_ITEMS_PER_BATCH };
  if (n === 0) return { ...base, estimate: null, reason: 'Pick at least one persona, one emotional arc and one topic.' };
  if (n > MAX_ITEMS_PER_BATCH) {
    return {
      ...base,
      estimate: null,
      reason: `Over the limit: a batch may hold at most ${formatters.int(MAX_ITEMS_PER_BATCH)} conversations.`,
    };
  }
  const parsed = StartBatchRequest.safeParse(body);
  if (!parsed.success) {
    return {
      ...base,
      estimate: null,
      reason: describeIssues(parsed.error)
        .map((i) => `${i.field}: ${i.message}`)
        .join('; '),
    };
  }
  return { ...base, estimate: estimateBatch(deps.config, parsed.data), reason: null };
}

/** Everything the batch page and its live part show. */
async function batchView(deps: ApiDeps, row: BatchJobRow, temporalUi: string) {
  const [progress, cost, failures, chunks] = await Promise.all([
    queryProgress(deps.temporal, row),
    getJobCost(deps.db, row.id),
    row.failed_items > 0 ? failureGroups(deps.db, row.id) : Promise.resolve([]),
    row.execution_mode === 'provider-batch' ? providerBatchSummary(deps.db, row.id) : Promise.resolve(null),
  ]);
  const job = toJob(row);
  const allows = (action: JobAction) => ALLOWED_FROM[action].includes(job.status);
  return {
    title: job.name,
    nav: 'batches',
    job,
    progress,
    cost,
    cacheRatio: cacheReadRatio(cost),
    chunks,
    failures,
    remaining: Math.max(0, job.totalItems - job.completedItems - job.cancelledItems),
    ended: TERMINAL_JOB_STATUSES.includes(job.status),
    can: {
      pause: allows('pause'),
      resume: allows('resume'),
      cancel: allows('cancel'),
      concurrency: allows('setConcurrency'),
      // A retry takes an ended job's failed items, optionally with its cancelled ones (never cancelled alone).
      retry: TERMINAL_JOB_STATUSES.includes(job.status) && job.failedItems > 0,
      retryWithCancelled: TERMINAL_JOB_STATUSES.includes(job.status) && job.cancelledItems > 0,
    },
    temporalUrl: `${temporalUi}/namespaces/${deps.config.TEMPORAL_NAMESPACE}/workflows/${workflowIdFor(job.id)}`,
  };
}

/** A coverage cell's ids from the items page's query (all three or none). */
function cellParam(query: FormBody): CoverageCellKey | undefined {
  const [personaId, emotionalArcId, topicId] = [field(query, 'persona'), field(query, 'arc'), field(query, 'topic')];
  if (!personaId || !emotionalArcId || !topicId) return undefined;
  return { personaId: uuidParam(personaId), emotionalArcId: uuidParam(emotionalArcId), topicId: uuidParam(topicId) };
}

/** The outcome a coverage cell is shown as: the worst of its items first. */
function cellOutcome(c: CoverageCell): 'failed' | 'cancelled' | 'processing' | 'completed' {
  if (c.failed > 0) return 'failed';
  if (c.cancelled > 0) return 'cancelled';
  if (c.queued + c.processing > 0) return 'processing';
  return 'completed';
}

/** The coverage as a grid: persona x arc by rows, topics by columns, in the job's order. */
function coverageGrid(cells: CoverageCell[]) {
  const topics = new Map<string, { id: string; label: string }>();
  const rows = new Map<
    string,
    { personaId: string; arcId: string; label: string; cells: Map<string, CoverageCell & { outcome: string }> }
  >();
  const totals = { total: 0, queued: 0, processing: 0, completed: 0, failed: 0, cancelled: 0 };
  for (const c of cells) {
    topics.set(c.training_topic_id, { id: c.training_topic_id, label: c.topic_name ?? c.topic_key ?? c.training_topic_id });
    const key = `${c.persona_id}/${c.emotional_arc_id}`;
    const row = rows.get(key) ?? {
      personaId: c.persona_id,
      arcId: c.emotional_arc_id,
      label: `${c.persona_name ?? c.persona_key ?? c.persona_id} × ${c.arc_name ?? c.arc_key ?? c.emotional_arc_id}`,
      cells: new Map(),
    };
    row.cells.set(c.training_topic_id, { ...c, outcome: cellOutcome(c) });
    rows.set(key, row);
    for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += c[k];
  }
  return {
    topics: [...topics.values()],
    rows: [...rows.values()].map((r) => ({ ...r, cells: Object.fromEntries(r.cells) })),
    totals,
  };
}

/** Persona, arc, topic and template keys by id, for the item tables. */
async function scaffoldingNames(deps: ApiDeps) {
  const [personas, arcs, topics, templates] = await Promise.all([
    listScaffolding<Row>(deps.db, 'personas'),
    listScaffolding<Row>(deps.db, 'emotional_arcs'),
    listScaffolding<Row>(deps.db, 'training_topics'),
    listTemplates(deps.db),
  ]);
  return {
    persona: Object.fromEntries(personas.map((r) => [String(r.id), toPersona(r)])),
    arc: Object.fromEntries(arcs.map((r) => [String(r.id), toEmotionalArc(r)])),
    topic: Object.fromEntries(topics.map((r) => [String(r.id), toTopic(r)])),
    template: Object.fromEntries(templates.map((r) => [r.id, toTemplate(r)])),
  };
}

function uuidParam(id: string): string {
  if (!isUuid(id)) throw new BulkgenError('VALIDATION_FAILED', { summary: `id: expected a uuid, got '${id}'` });
  return id;
}

function oneOf<T extends string>(values: readonly T[], value: string | undefined): T | undefined {
  return value !== undefined && (values as readonly string[]).includes(value) ? (value as T) : undefined;
}

/** Only a path of the dashboard itself is a place to come back to after signing in. */
function safeNext(next: string | undefined): string {
  return next && next.startsWith(`${UI_PREFIX}/`) && !next.startsWith('//') && !next.includes('\\') ? next : `${UI_PREFIX}/batches`;
}

/** An error as a page (or, for htmx, a message fragment), with the catalogue's status and message. */
async function uiError(request: FastifyRequest, reply: FastifyReply, err: unknown, temporalAddress: string) {
  const e = err as FastifyError;
  const csrf = typeof e.code === 'string' && e.code.startsWith('FST_CSRF');
  const status = csrf ? 403 : isBulkgenError(err) ? err.status : toBulkgenError(err, request, temporalAddress).status;
  const message = csrf
    ? 'This form is missing its security token or the token is stale (CSRF). Reload the page and try again.'
    : toBulkgenError(err, request, temporalAddress).message;
  const code = csrf ? 'FORBIDDEN' : toBulkgenError(err, request, temporalAddress).code;
  if (status >= 500) request.log.error({ err }, 'dashboard request failed');
  else request.log.info({ code, message }, 'dashboard request refused');
  reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8');
  if (isHtmx(request)) return reply.view('partials/message', { kind: 'refused', message: `${code}: ${message}` });
  const signedIn = typeof request.session?.get('key') === 'string';
  return reply.view('error', {
    title: `Error ${status}`,
    status,
    code,
    message,
    signedIn,
    csrf: request.session ? reply.generateCsrf() : '',
    nav: '',
    f: formatters,
    prefix: UI_PREFIX,
  });
}
