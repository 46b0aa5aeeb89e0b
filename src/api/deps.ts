import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';

/**
 * What the routes use: configuration, the database, and a connected Temporal client. Its own module,
 * so a route imports it without importing `app.ts`, which imports the routes.
 */
export interface ApiDeps {
  config: Config;
  db: Db;
  temporal: Client;
}
