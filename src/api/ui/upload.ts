import path from 'node:path';
import fastifyMultipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FormBody } from './form';

/** The largest file the dashboard's import form takes (5 MB; `bulkgen import` has no limit for bigger files). */
export const MAX_UPLOAD_BYTES = 5 * 1024 * 1024;

/** The file types the import form offers (each is a format `parseScaffoldingFile` reads by its extension). */
export const UPLOAD_EXTENSIONS = ['.yaml', '.yml', '.json', '.csv'] as const;

/** `.yaml, .yml, .json or .csv`: the extensions as a person reads them. */
export const UPLOAD_EXTENSIONS_TEXT = `${UPLOAD_EXTENSIONS.slice(0, -1).join(', ')} or ${UPLOAD_EXTENSIONS[UPLOAD_EXTENSIONS.length - 1]}`;

/** The import form's parts: one file, a CSRF token and a checkbox; anything more is not from our form. */
const LIMITS = { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 8, fieldSize: 4096, parts: 10 };

/** One uploaded file: its original name (its extension picks the format), and its text or why there is none. */
export type UploadedFile =
  { name: string; text: string; problem?: undefined } | { name: string; text?: undefined; problem: 'too-large' | 'not-utf8' };

const uploads = new WeakMap<FastifyRequest, UploadedFile[]>();

/**
 * Registers the multipart parser (`multipart/form-data`) on the dashboard only. A file over
 * {@link MAX_UPLOAD_BYTES} is not an error here: busboy reads the rest of it into nothing, so the whole
 * request is consumed (the browser sees an answer, not a reset connection) and the page says what was wrong.
 */
export async function registerUploads(app: FastifyInstance): Promise<void> {
  await app.register(fastifyMultipart, { limits: LIMITS, throwFileSizeLimit: false });
}

/**
 * A `preValidation` hook for a multipart form route: reads every part, puts the fields into
 * `request.body` as @fastify/formbody would (so the CSRF check reads `_csrf` from it as for any
 * other form) and keeps the files for {@link uploadedFiles}. Runs before the CSRF check, which is a
 * `preHandler`: the check needs the token, and the token is a part of the body. Nothing is written
 * before the handler runs.
 */
export async function readMultipart(request: FastifyRequest): Promise<void> {
  if (!request.isMultipart()) return;
  const fields: FormBody = {};
  const files: UploadedFile[] = [];
  for await (const part of request.parts()) {
    if (part.type === 'field') {
      const prev = fields[part.fieldname];
      const value = String(part.value);
      fields[part.fieldname] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
      continue;
    }
    // Every file part is read to its end, or the parts after it never arrive.
    const bytes = await part.toBuffer();
    // A file input left empty still sends a part, with no name and no bytes.
    if (part.filename === '' && bytes.length === 0) continue;
    files.push(decodeFile(baseName(part.filename), bytes, part.file.truncated));
  }
  request.body = fields;
  uploads.set(request, files);
}

/** The files {@link readMultipart} read from this request (none for a urlencoded post). */
export function uploadedFiles(request: FastifyRequest): UploadedFile[] {
  return uploads.get(request) ?? [];
}

function decodeFile(name: string, bytes: Buffer, truncated: boolean): UploadedFile {
  if (truncated) return { name, problem: 'too-large' };
  try {
    // fatal: a binary file (a spreadsheet, an image) is named as such rather than imported as mojibake.
    return { name, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { name, problem: 'not-utf8' };
  }
}

/** The file's own name: some browsers send the path it had on the person's disk. */
function baseName(filename: string): string {
  return path.posix.basename(filename.replace(/\\/g, '/')) || 'upload';
}
