import type { Client } from '@temporalio/client';
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config';
import { createDb } from '../db/client';
import { connectClient } from '../temporal/client';
import { buildApp } from './app';

/**
 * Listening address when none is given: every interface, so the API is
 * reachable from outside a container. Every /v1 route still needs a key.
 */
const DEFAULT_HOST = '0.0.0.0';
/** How long in-flight requests get to finish on SIGINT/SIGTERM before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

/** A running API server. */
export interface ApiServer {
  app: FastifyInstance;
  temporal: Client;
  /** e.g. http://0.0.0.0:3000 */
  url: string;
  /** Closes the app (ending event streams), then the Temporal connection; idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the REST API for `bulkgen api`: connects the database and Temporal
 * (TEMPORAL_UNAVAILABLE if it cannot), builds the app, listens on
 * `config.PORT` at `opts.host` (default 0.0.0.0; pass 127.0.0.1 to keep it
 * local) and closes gracefully on SIGINT/SIGTERM (close-with-grace).
 *
 * @example const server = await startServer(loadConfig()); // then await server.close()
 */
export async function startServer(
  config: Config,
  opts: { host?: string; logger?: boolean | object; handleSignals?: boolean } = {},
): Promise<ApiServer> {
  const db = createDb(config);
  const temporal = await connectClient(config);
  let app: FastifyInstance;
  try {
    app = await buildApp({ config, db, temporal, logger: opts.logger ?? { level: config.LOG_LEVEL } });
    await app.listen({ port: config.PORT, host: opts.host ?? DEFAULT_HOST });
  } catch (err) {
    await temporal.connection.close().catch(() => {});
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      grace?.uninstall();
      try {
        await app.close();
      } finally {
        await temporal.connection.close();
      }
    })());

  const grace =
    opts.handleSignals === false
      ? undefined
      : closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
          if (err) app.log.error({ err }, 'shutting down after an uncaught error');
          else app.log.info({ signal }, 'shutting down');
          await close();
        });

  const address = app.server.address();
  const url =
    typeof address === 'object' && address
      ? `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`
      : String(address);
  app.log.info({ url, docs: `${url}/docs` }, 'bulkgen API listening');
  return { app, temporal, url, close };
}
