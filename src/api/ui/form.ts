import { NIL_UUID } from '../../domain/enums';

/** A urlencoded body as @fastify/formbody parses it: a repeated field is an array. */
export type FormBody = Record<string, string | string[] | undefined>;

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[v.length - 1] : v);
const numberOrUndefined = (v: string | undefined): number | undefined => (v === undefined || v.trim() === '' ? undefined : Number(v));

/**
 * The New batch form -> a `POST /v1/batches` body (validated afterwards by the same schema).
 * `templateId=auto` (or empty) is the NIL uuid: pick one per item.
 */
export function startBodyFromForm(form: FormBody): Record<string, unknown> {
  const templateId = one(form.templateId);
  const body: Record<string, unknown> = {
    name: one(form.name) ?? '',
    tier: one(form.tier),
    personaIds: list(form.personaIds),
    emotionalArcIds: list(form.emotionalArcIds),
    topicIds: list(form.topicIds),
    templateId: templateId === undefined || templateId === '' || templateId === 'auto' ? NIL_UUID : templateId,
    concurrentProcessing: numberOrUndefined(one(form.concurrentProcessing)),
    errorHandling: one(form.errorHandling),
    toleratedFailurePercent: numberOrUndefined(one(form.toleratedFailurePercent)),
    maxCostUsd: numberOrUndefined(one(form.maxCostUsd)),
    executionMode: one(form.executionMode),
  };
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined && v !== ''));
}

/** The form field's single value. */
export const field = (form: FormBody | undefined, name: string): string | undefined => one(form?.[name]);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A path segment or form field that is a uuid (checked before it reaches a query). */
export const isUuid = (value: string): boolean => UUID.test(value);
