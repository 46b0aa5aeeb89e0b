import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { BulkgenError } from '../errors';

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/**
 * An `onRequest` hook accepting `Authorization: Bearer <key>` for any key of
 * `apiKeys`. Keys are compared as sha256 digests with `timingSafeEqual`, all
 * of them every time, so neither a key's length nor which key matched shows
 * in the timing. With no keys configured every request is refused.
 */
export function bearerAuth(apiKeys: readonly string[]): onRequestHookHandler {
  const isKnown = keyMatcher(apiKeys);
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(request.headers.authorization ?? '');
    if (!match || !isKnown(digest(match[1]!))) throw new BulkgenError('UNAUTHORIZED');
  };
}

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

/** The OpenAPI security scheme the /v1 routes declare. */
export const BEARER_SCHEME = { bearerAuth: { type: 'http', scheme: 'bearer', description: 'one of API_KEYS' } } as const;
export const BEARER_SECURITY = [{ bearerAuth: [] as string[] }];
