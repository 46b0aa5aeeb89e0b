import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config';
import { keyMatcher } from '../auth';

/** The dashboard's session cookie: encrypted (secretbox), httpOnly, SameSite=Strict, only sent to /ui. */
export const SESSION_COOKIE = 'bulkgen_ui';
/** How long a sign-in lasts. */
export const SESSION_MAX_AGE_S = 12 * 60 * 60;

/**
 * The 32-byte key that encrypts the session cookie: UI_SESSION_SECRET when set, else derived from
 * API_KEYS (so every API process with the same keys reads the same cookies, and changing the keys
 * signs everybody out). Knowing an API key gives REST access anyway; a deployment that wants the two
 * apart sets UI_SESSION_SECRET. Without keys nobody can sign in: a random key then.
 */
export function sessionKey(config: Pick<Config, 'UI_SESSION_SECRET' | 'API_KEYS'>): Buffer {
  if (config.UI_SESSION_SECRET) return createHash('sha256').update(`bulkgen-ui-session\0${config.UI_SESSION_SECRET}`).digest();
  if (config.API_KEYS.length === 0) return randomBytes(32);
  return createHash('sha256')
    .update(`bulkgen-ui-session\0${[...config.API_KEYS].sort().join('\0')}`)
    .digest();
}

/** Whether a request is an htmx request (it then wants a fragment, or an HX-Redirect). */
export const isHtmx = (request: FastifyRequest): boolean => request.headers['hx-request'] === 'true';

/**
 * An `onRequest` hook: the session must hold the digest of a key that is still one of API_KEYS.
 * Pages without one redirect to the sign-in page (303, coming back afterwards); htmx fragments
 * and event streams answer 401 with `HX-Redirect`, so htmx loads the sign-in page instead.
 */
export function requireSession(apiKeys: readonly string[], signInPath: string) {
  const isKnown = keyMatcher(apiKeys);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const digest: unknown = request.session.get('key');
    if (typeof digest === 'string' && isKnown(Buffer.from(digest, 'hex'))) return;
    const next = request.method === 'GET' && !isHtmx(request) ? `?next=${encodeURIComponent(request.url)}` : '';
    if (isHtmx(request) || request.headers.accept === 'text/event-stream') {
      return reply.code(401).header('hx-redirect', signInPath).type('text/plain; charset=utf-8').send('sign in first');
    }
    return reply.redirect(`${signInPath}${next}`, 303);
  };
}
