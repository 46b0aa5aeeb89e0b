/**
 * The one catalogue of error codes: a stable code, the HTTP status the API
 * answers with, and a message template whose `{name}` slots are filled from
 * the params. Code branches on `code`, never on message text; the README's
 * error table lists every code (a test checks it).
 */
export const ERROR_CATALOGUE = {
  VALIDATION_FAILED: { status: 400, message: 'the request is invalid: {summary}' },
  EMPTY_BATCH: { status: 400, message: 'a batch needs at least one item: {field} is empty' },
  INVALID_JSON: { status: 400, message: 'the request body is not valid JSON: {detail}' },
  BODY_TOO_DEEP: { status: 400, message: 'the request body nests deeper than {max} levels' },
  UNAUTHORIZED: { status: 401, message: 'missing or invalid API key: send Authorization: Bearer <key>' },
  TOO_MANY_AUTH_FAILURES: {
    status: 429,
    message: 'too many failed authentications from {address}: retry in {retryAfter} s',
  },
  JOB_NOT_FOUND: { status: 404, message: "no batch job with id '{id}'" },
  NOT_FOUND: { status: 404, message: '{what} was not found' },
  METHOD_NOT_ALLOWED: { status: 405, message: '{method} is not allowed on {path}: use {allow}' },
  INVALID_TRANSITION: { status: 409, message: "cannot {action} job '{id}': it is {status}" },
  JOB_NOT_ENDED: { status: 409, message: "job '{id}' is {status}: only an ended job (completed, failed, cancelled) {action}" },
  RETRY_IN_PROGRESS: { status: 409, message: "job '{id}' is being retried already (retry {retry}, {status}): wait until it ends" },
  SPEND_CAP_REACHED: {
    status: 409,
    message: "job '{id}' has cost ${spent} of its ${cap} spend cap: raise maxCostUsd (PATCH /v1/batches/{id}) before resuming",
  },
  NOTHING_TO_RETRY: { status: 409, message: "job '{id}' has no {statuses} item to retry" },
  TOO_MANY_ITEMS: { status: 413, message: 'a batch may hold at most {max} items; this one would hold {count}' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'the request body is larger than {limit} bytes' },
  UPLOAD_TOO_LARGE: {
    status: 413,
    message:
      "file '{file}' is larger than the dashboard's upload limit of {limit}: split it into smaller files, or import it with `bulkgen import`",
  },
  UNKNOWN_REFERENCE: { status: 422, message: '{field}: {detail}' },
  DB_CONSTRAINT_VIOLATION: { status: 422, message: '{table}: the database rejected the row: {detail}' },
  DB_PERMISSION_DENIED: { status: 403, message: '{table}: permission denied for this role' },
  DB_ERROR: { status: 500, message: 'database error {pgCode}: {detail}' },
  DATABASE_UNAVAILABLE: { status: 503, message: 'the database is unreachable: {detail}' },
  TEMPORAL_UNAVAILABLE: { status: 503, message: 'Temporal is unreachable at {address}: {detail}' },
  WORKFLOW_START_FAILED: { status: 503, message: "could not start workflow '{workflowId}': {detail}" },
  SCHEMA_DRIFT: { status: 500, message: 'the database does not match the code:\n{mismatches}' },
  TEMPLATE_NOT_FOUND: { status: 422, message: "No suitable template found for the emotional arc '{arc}' (tier '{tier}')" },
  TEMPLATE_MISSING_PLACEHOLDER: { status: 422, message: '{detail}' },
  TEMPLATE_INVALID: { status: 422, message: '{subject} is invalid: {detail}' },
  INVALID_TURN_RANGE: {
    status: 422,
    message: 'typicalTurnCountMax ({max}) must be at least typicalTurnCountMin ({min})',
  },
  INVALID_DEMOGRAPHICS: { status: 422, message: 'demographics: {detail}' },
  IMPORT_INVALID: { status: 422, message: 'the import has {count} problem(s), nothing was written:\n{detail}' },
  DUPLICATE_KEY: { status: 409, message: "{table}: {key} '{value}' already exists" },
  ROW_REFERENCED: { status: 409, message: '{what} is used by {by}: it is not deleted (retire it with PATCH { isActive: false })' },
  CONFIG_INVALID: { status: 500, message: '{detail}' },
  PORT_IN_USE: { status: 500, message: 'port {port} is already in use: set {variable} to a free port' },
  STACK_START_FAILED: { status: 500, message: '{component} failed to start: {detail}' },
  MIGRATION_FAILED: { status: 500, message: 'migration failed: {detail}' },
  TYPEGEN_FAILED: { status: 500, message: 'type generation failed: {detail}' },
  INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** An error from the catalogue: `code` is stable, `message` is for people, `details` for machines. */
export class BulkgenError extends Error {
  override readonly name: string = 'BulkgenError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    params: Record<string, string | number | undefined> = {},
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(formatMessage(ERROR_CATALOGUE[code].message, params), options);
    this.status = ERROR_CATALOGUE[code].status;
  }

  /** The API's error body. */
  toJSON(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

function formatMessage(template: string, params: Record<string, string | number | undefined>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => String(params[key] ?? `{${key}}`));
}

/** True when `err` is a catalogued error, optionally with the given code. */
export function isBulkgenError(err: unknown, code?: ErrorCode): err is BulkgenError {
  return err instanceof BulkgenError && (code === undefined || err.code === code);
}
