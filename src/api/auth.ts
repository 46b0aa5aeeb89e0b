import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { BulkgenError } from '../errors';

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/** Failed authentications from one address that answer at once; each one after them waits longer. */
const FREE_FAILURES = 5;
/** How much longer each failure past the free ones waits, and the most any waits. */
const SLOWDOWN_STEP_MS = 250;
const SLOWDOWN_MAX_MS = 2000;

/** How repeated authentication failures from one address are slowed, then refused. */
export interface AuthLimits {
  /** Failures per window after which every /v1 request from the address answers 429. */
  maxFailures: number;
  windowMs: number;
}

/** The limiter `@fastify/rate-limit` makes (`app.createRateLimit()`), as far as the hook uses it. */
type Limiter = (
  request: FastifyRequest,
  opts?: { increment?: boolean },
) => Promise<{ isAllowed: boolean; remaining?: number; ttlInSeconds?: number }>;

/** The sha256 digest of an API key, as {@link keyMatcher} compares it (the dashboard's session keeps it). */
export const keyDigest = (key: string): Buffer => digest(key);

/**
 * A test of a key's sha256 digest against every digest of `apiKeys`, all of them every time with
 * `timingSafeEqual`, so neither a key's length nor which key matched shows in the timing.
 */
export function keyMatcher(apiKeys: readonly string[]): (presented: Buffer) => boolean {
  const digests = apiKeys.map(digest);
  return (presented) => {
    if (presented.length !== 32) return false;
    let ok = false;
    for (const known of digests) ok = timingSafeEqual(presented, known) || ok;
    return ok;
  };
}

/**
 * An `onRequest` hook accepting `Authorization: Bearer <key>` for any key of
 * `apiKeys`. Keys are compared as sha256 digests with `timingSafeEqual`, all
 * of them every time, so neither a key's length nor which key matched shows
 * in the timing. With no keys configured every request is refused.
 *
 * Failed authentications are counted per client address (`request.ip`; behind a proxy, set
 * fastify's `trustProxy` so it is the client's) by `@fastify/rate-limit`'s store, one window of
 * `limits.windowMs` from the first failure: the first 5 answer 401 at once, each later one 250 ms
 * later than the one before (at most 2 s), and once `limits.maxFailures` have failed, every /v1
 * request from that address answers 429 TOO_MANY_AUTH_FAILURES with `Retry-After` until the window
 * ends, a right key included (so a guess that happens to be right is not told so). Requests with a
 * right key count nothing.
 */
export function bearerAuth(app: FastifyInstance, apiKeys: readonly string[], limits: AuthLimits): onRequestHookHandler {
  const isKnown = keyMatcher(apiKeys);
  const failures = (app as unknown as { createRateLimit(opts: object): Limiter }).createRateLimit({
    max: limits.maxFailures,
    timeWindow: limits.windowMs,
  });
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const before = await failures(request, { increment: false });
    if (!before.isAllowed && before.remaining === 0) refuse(request, reply, before.ttlInSeconds ?? 1);
    if (accepts(isKnown, request.headers.authorization)) return;
    const after = await failures(request);
    const failed = limits.maxFailures - (after.remaining ?? 0);
    const delayMs = Math.min(SLOWDOWN_MAX_MS, Math.max(0, failed - FREE_FAILURES) * SLOWDOWN_STEP_MS);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    throw new BulkgenError('UNAUTHORIZED');
  };
}

function accepts(isKnown: (presented: Buffer) => boolean, header: string | undefined): boolean {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return match !== null && isKnown(digest(match[1]!));
}

function refuse(request: FastifyRequest, reply: FastifyReply, retryAfter: number): never {
  void reply.header('retry-after', String(Math.max(1, retryAfter)));
  throw new BulkgenError('TOO_MANY_AUTH_FAILURES', { address: request.ip, retryAfter: Math.max(1, retryAfter) });
}

/** The OpenAPI security scheme the /v1 routes declare. */
export const BEARER_SCHEME = { bearerAuth: { type: 'http', scheme: 'bearer', description: 'one of API_KEYS' } } as const;
export const BEARER_SECURITY = [{ bearerAuth: [] as string[] }];
