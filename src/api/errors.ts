import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { isResponseSerializationError } from 'fastify-type-provider-zod';
import { BulkgenError, isBulkgenError } from '../errors';
import { isTemporalUnreachable, temporalUnavailable } from '../temporal/errors';

/** One rejected input: where, which field, what is wrong, and the value that was sent. */
export interface FieldIssue {
  in: 'body' | 'querystring' | 'params' | 'headers';
  field: string;
  message: string;
  value?: unknown;
}

/**
 * VALIDATION_FAILED naming every field and the value sent, e.g.
 * `personaIds[0]: expected a uuid, got 'nope' (got "nope")`.
 */
export function validationFailed(issues: FieldIssue[]): BulkgenError {
  const summary = issues.map((i) => `${i.field}: ${i.message}${describeValue(i.value)}`).join('; ');
  return new BulkgenError('VALIDATION_FAILED', { summary }, { issues });
}

const MAX_SHOWN = 80;

function describeValue(value: unknown): string {
  if (value === undefined) return ' (missing)';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return ` (got ${text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}...` : text})`;
}

/** A fastify validation entry (ajv's shape, which fastify-type-provider-zod mimics). */
interface ValidationEntry {
  keyword?: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Maps fastify's validation error to field issues, reading each rejected value from the raw request. */
function issuesFromValidation(err: FastifyError, request: FastifyRequest): FieldIssue[] {
  const where = (err.validationContext ?? 'body') as FieldIssue['in'];
  // Validation failed, so the request still holds what was sent (fastify names the querystring `query`).
  const raw: unknown = (request as unknown as Record<string, unknown>)[where === 'querystring' ? 'query' : where];
  const issues: FieldIssue[] = [];
  for (const entry of (err.validation ?? []) as ValidationEntry[]) {
    const path = (entry.instancePath ?? '').split('/').filter((s) => s !== '');
    const keys = entry.params?.keys;
    if (entry.keyword === 'unrecognized_keys' && Array.isArray(keys)) {
      const parent = valueAt(raw, path);
      for (const key of keys as string[]) {
        issues.push({
          in: where,
          field: fieldName([...path, key]),
          message: 'unknown field',
          value: (parent as Record<string, unknown>)?.[key],
        });
      }
      continue;
    }
    issues.push({ in: where, field: fieldName(path) || `(${where})`, message: entry.message ?? 'is invalid', value: valueAt(raw, path) });
  }
  return issues;
}

function valueAt(root: unknown, path: string[]): unknown {
  let at: unknown = root;
  for (const segment of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[segment];
  }
  return at;
}

/** `['parameterSets', '0', 'personaId']` -> `parameterSets[0].personaId`. */
function fieldName(path: string[]): string {
  return path.reduce((name, segment) => (/^\d+$/.test(segment) ? `${name}[${segment}]` : name ? `${name}.${segment}` : segment), '');
}

/**
 * Turns anything a handler or fastify throws into a catalogued error:
 * BulkgenError as it is; validation errors as VALIDATION_FAILED naming each
 * field and value; other client errors of fastify (bad JSON, wrong content
 * type) as VALIDATION_FAILED, a body over the limit as PAYLOAD_TOO_LARGE; the rest as INTERNAL.
 */
export function toBulkgenError(err: unknown, request: FastifyRequest, temporalAddress: string): BulkgenError {
  if (isBulkgenError(err)) return err;
  const e = err as FastifyError;
  if (Array.isArray(e.validation)) return validationFailed(issuesFromValidation(e, request));
  if (isTemporalUnreachable(err)) return temporalUnavailable(err, temporalAddress);
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 && !isResponseSerializationError(e as never)) {
    if (e.statusCode === 404) return new BulkgenError('NOT_FOUND', { what: `${request.method} ${request.url}` });
    if (e.statusCode === 401) return new BulkgenError('UNAUTHORIZED');
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return new BulkgenError('PAYLOAD_TOO_LARGE', { limit: request.routeOptions.bodyLimit ?? 'the configured' });
    return new BulkgenError('VALIDATION_FAILED', { summary: e.message }, { fastifyCode: e.code });
  }
  return new BulkgenError('INTERNAL', {}, undefined, { cause: err });
}

/**
 * The response body of an error. A network failure's detail can carry a
 * stack trace (supabase-js puts one there); stack frames never reach a client.
 */
export function errorBody(err: BulkgenError): ReturnType<BulkgenError['toJSON']> {
  const body = err.toJSON();
  if (!/\n\s+at /.test(body.error.message)) return body;
  const message = body.error.message
    .split('\n')
    .filter((line) => !/^\s+at /.test(line) && line.trim() !== '')
    .join(' ');
  return { error: { ...body.error, message } };
}

/** How deep a JSON body may nest: a start body needs 3 levels; deeper input only costs stack. */
export const MAX_JSON_DEPTH = 32;

/** The deepest nesting of `[` and `{` outside strings, stopping as soon as it passes `max`. */
function nestingOver(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * Replaces fastify's JSON body parser with one that answers in the catalogue: an empty or
 * malformed body (or one with `__proto__` / `constructor.prototype` keys) is INVALID_JSON naming
 * what is wrong, a body nesting deeper than {@link MAX_JSON_DEPTH} is BODY_TOO_DEEP (checked before
 * parsing, so no deep value reaches a validator or an error message). The route's body limit still
 * applies (PAYLOAD_TOO_LARGE). A NUL byte cannot stand unescaped in JSON; an escaped one (`\u0000`)
 * is refused by the field's schema (see `src/domain/text.ts`).
 */
export function installJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(new BulkgenError('INVALID_JSON', { detail: 'the body is empty' }), undefined);
    if (nestingOver(text, MAX_JSON_DEPTH)) return done(new BulkgenError('BODY_TOO_DEEP', { max: MAX_JSON_DEPTH }), undefined);
    void parse(request, text, (err, value) => {
      if (err) done(new BulkgenError('INVALID_JSON', { detail: err.message }), undefined);
      else done(null, value);
    });
  });
}

/** The methods route patterns answer: every pattern a path matches, and the literal (parameterless) routes of exactly that path. */
export interface RouteMethods {
  of(path: string): string[];
  literal(path: string): string[];
}

/**
 * The methods each route pattern answers, collected as routes are added (call before registering
 * any): the not-found handler tells a known path with another method (405 and `Allow`) from an
 * unknown path (404), and a literal path (`/v1/batches/estimate`) is not taken for an id of its
 * parametric sibling (`PATCH /v1/batches/:id`) by a method it does not have.
 */
export function trackRouteMethods(app: FastifyInstance): RouteMethods {
  const routes: Array<{ pattern: RegExp; url: string; literal: boolean; methods: string[] }> = [];
  app.addHook('onRoute', (route) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]) as HTTPMethods[];
    const source = route.url
      .split('/')
      .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    const literal = !route.url.includes(':') && !route.url.includes('*');
    routes.push({ pattern: new RegExp(`^${source}$`), url: route.url, literal, methods: methods.map((m) => m.toUpperCase()) });
  });
  const methods = (rs: typeof routes) => [...new Set(rs.flatMap((r) => r.methods))].sort();
  return {
    of: (path) => methods(routes.filter((r) => r.pattern.test(path))),
    literal: (path) => methods(routes.filter((r) => r.literal && r.url === path)),
  };
}

/**
 * Installs the one error handler and the not-found handler: every error
 * answers `{ error: { code, message, details? } }` with the catalogue's
 * status, and a 5xx body never carries a stack trace (it is logged instead).
 * A path that exists with other methods answers 405 METHOD_NOT_ALLOWED with `Allow`.
 */
export function installErrorHandling(app: FastifyInstance, temporalAddress: string, methods: RouteMethods): void {
  const refuse = (request: FastifyRequest, reply: FastifyReply, path: string, allow: string[]): FastifyReply => {
    const err = new BulkgenError('METHOD_NOT_ALLOWED', { method: request.method, path, allow: allow.join(', ') }, { allow });
    return reply.status(err.status).header('allow', allow.join(', ')).send(err.toJSON());
  };
  const methodNotAllowed = (request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    const path = request.url.split('?')[0]!;
    // A literal route owns its path: /v1/batches/estimate allows POST, not the GET and PATCH of /v1/batches/:id.
    const literal = methods.literal(path);
    const allow = literal.length > 0 ? literal : methods.of(path);
    if (allow.length === 0 || allow.includes(request.method)) return undefined;
    return refuse(request, reply, path, allow);
  };
  // PATCH /v1/batches/estimate reaches PATCH /v1/batches/:id with id 'estimate': the literal path owns it, so 405, not 400 'id'.
  app.addHook('onRequest', async (request, reply) => {
    if (!request.routeOptions.url?.includes(':')) return;
    const path = request.url.split('?')[0]!;
    const literal = methods.literal(path);
    if (literal.length > 0 && !literal.includes(request.method)) return refuse(request, reply, path, literal);
  });
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    // fastify refuses some requests before routing (a QUERY without a content type): a method the path does not have is 405 all the same.
    if (request.routeOptions.url === undefined) {
      const refused = methodNotAllowed(request, reply);
      if (refused) return refused;
    }
    const mapped = toBulkgenError(err, request, temporalAddress);
    if (mapped.status >= 500) request.log.error({ err, code: mapped.code }, 'request failed');
    else request.log.info({ code: mapped.code, message: mapped.message }, 'request rejected');
    if (mapped.code === 'UNAUTHORIZED') void reply.header('www-authenticate', 'Bearer');
    return reply.status(mapped.status).send(errorBody(mapped));
  });
  app.setNotFoundHandler((request, reply) => {
    const refused = methodNotAllowed(request, reply);
    if (refused) return refused;
    const err = new BulkgenError('NOT_FOUND', { what: `route ${request.method} ${request.url.split('?')[0]}` });
    return reply.status(err.status).send(err.toJSON());
  });
}
