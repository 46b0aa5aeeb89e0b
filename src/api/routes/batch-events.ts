import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { findJob, getJob } from '../../db/jobs';
import { TERMINAL_JOB_STATUSES } from '../../domain/enums';
import type { BatchJobRow } from '../../domain/rows';
import { BulkgenError } from '../../errors';
import { BEARER_SECURITY } from '../auth';
import { errorBody, toBulkgenError } from '../errors';
import { errors, JobIdParams } from '../schemas';
import type { ApiDeps } from '../deps';

/** How often the job row is read while a client listens. */
const EVENTS_POLL_MS = 500;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

/** The `data` of a `progress` event. */
interface ProgressEvent {
  status: BatchJobRow['status'];
  totalItems: number;
  successfulItems: number;
  failedItems: number;
  completedItems: number;
  cancelledItems: number;
  estimatedTimeRemaining: number | null;
}

const snapshot = (row: BatchJobRow): ProgressEvent => ({
  status: row.status,
  totalItems: row.total_items,
  successfulItems: row.successful_items,
  failedItems: row.failed_items,
  completedItems: row.completed_items,
  cancelledItems: row.cancelled_items ?? 0,
  estimatedTimeRemaining: row.estimated_time_remaining,
});

/** One server-sent event; every line of a multi-line payload gets its own `data:` field. */
const frame = (event: string, data: string): string =>
  `event: ${event}\n${data
    .split('\n')
    .map((line) => `data: ${line}\n`)
    .join('')}\n`;

/** Turns a job row into an event's data (the REST stream: the snapshot as JSON; the dashboard: HTML). */
export type RenderJobEvent = (row: BatchJobRow) => string | Promise<string>;

/** The open streams of one app, ended before it closes. */
export interface JobStreams {
  /**
   * Answers `request` with the event stream of job `jobId`: `progress` on connect and on every
   * change of status or counters, `end` when the job has ended, `error` once per outage. A missing
   * job is an ordinary 404 before the stream starts.
   */
  serve(request: FastifyRequest, reply: FastifyReply, jobId: string, render: RenderJobEvent): Promise<void>;
}

/**
 * The job event streams of `app` (the REST route and the dashboard's live parts share them): the row
 * is read every 500 ms while a client listens; polling stops when the client goes away or the app closes.
 */
export function jobStreams(app: FastifyInstance, deps: ApiDeps): JobStreams {
  const open = new Set<ServerResponse>();
  // app.close() waits for open connections: end the streams first, and drop their sockets rather
  // than leave them to the keep-alive timeout.
  app.addHook('preClose', async () => {
    await Promise.all([...open].map((res) => new Promise<void>((resolve) => res.end(() => (res.destroy(), resolve())))));
  });

  const serve = async (request: FastifyRequest, reply: FastifyReply, jobId: string, render: RenderJobEvent): Promise<void> => {
    const first = await getJob(deps.db, jobId);
    const firstData = await render(first);

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    open.add(res);

    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    let lastSent = '';
    let lastError = '';
    let lastWrite = Date.now();
    const write = (text: string) => {
      lastWrite = Date.now();
      res.write(text);
    };
    const stop = () => {
      closed = true;
      if (timer) clearTimeout(timer);
      open.delete(res);
    };
    res.on('close', stop);

    const emit = async (row: BatchJobRow, rendered?: string): Promise<boolean> => {
      const key = JSON.stringify(snapshot(row));
      const ended = TERMINAL_JOB_STATUSES.includes(row.status);
      if (key === lastSent && !ended) return true;
      const data = rendered ?? (await render(row));
      if (closed) return false;
      if (key !== lastSent) {
        lastSent = key;
        write(frame('progress', data));
      }
      if (ended) {
        write(frame('end', data));
        res.end();
        return false;
      }
      return true;
    };

    const poll = async () => {
      if (closed) return;
      try {
        const row = await findJob(deps.db, jobId);
        if (closed) return;
        if (!row) {
          write(frame('error', JSON.stringify(errorBody(new BulkgenError('JOB_NOT_FOUND', { id: jobId })))));
          res.end();
          return;
        }
        if (!(await emit(row))) return;
        lastError = '';
      } catch (err) {
        if (closed) return;
        // One error event (and one log line) per outage, not one every poll.
        const body = JSON.stringify(errorBody(toBulkgenError(err, request, deps.config.TEMPORAL_ADDRESS)));
        if (body !== lastError) {
          lastError = body;
          request.log.warn({ err }, 'events: cannot read the job');
          write(frame('error', body));
        }
      }
      if (Date.now() - lastWrite >= KEEPALIVE_MS) write(': keep-alive\n\n');
      timer = setTimeout(() => void poll(), EVENTS_POLL_MS);
    };

    write('retry: 2000\n\n');
    if (await emit(first, firstData)) timer = setTimeout(() => void poll(), EVENTS_POLL_MS);
  };
  return { serve };
}

/**
 * GET /batches/:id/events: server-sent events. `progress` on connect and
 * whenever the row's status or counters change (the row is read every
 * 500 ms), then `end` and the stream closes once the job has ended. A failed
 * read sends `error` (the catalogue body) and polling goes on. Polling stops
 * when the client goes away or the app closes.
 */
export const batchEventsRoutes: FastifyPluginAsyncZod<ApiDeps> = async (app, deps) => {
  const streams = jobStreams(app, deps);

  app.get(
    '/batches/:id/events',
    {
      schema: {
        summary: "Follow a batch's progress (server-sent events)",
        description:
          'text/event-stream. `event: progress` with data {status, totalItems, successfulItems, failedItems, completedItems, ' +
          'cancelledItems, estimatedTimeRemaining} on connect and on every change; `event: end` (same data) when the job ' +
          'reaches completed, failed or cancelled, then the stream closes; `event: error` with the error body if a read fails (once per outage; polling goes on).',
        tags: ['batches'],
        security: BEARER_SECURITY,
        params: JobIdParams,
        response: {
          200: { description: 'an event stream', content: { 'text/event-stream': { schema: z.string() } } },
          ...errors(400, 401, 404, 429, 500, 503),
        },
      },
    },
    async (request, reply) => streams.serve(request, reply, request.params.id, (row) => JSON.stringify(snapshot(row))),
  );
};
