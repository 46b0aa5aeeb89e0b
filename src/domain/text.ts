import { z } from 'zod';

/**
 * Text fields that reach Postgres. Postgres `text` cannot hold a NUL character (22P05), so a NUL is
 * refused here with a 400 naming the field, and the OpenAPI document says so with a pattern. The
 * patterns are written so that every regex dialect reads them alike (JavaScript for zod, Python and
 * Rust for API fuzzers): whitespace is spelled out (exactly what `String.prototype.trim` removes),
 * and they run in linear time on any length. Lengths count code points, as JSON Schema's
 * `maxLength` does (a UTF-16 `length` would count an emoji twice).
 */

/** What `String.prototype.trim` removes, as a character class body. */
const WHITESPACE = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
/** No NUL anywhere. */
// eslint-disable-next-line no-control-regex -- matching NUL is the point
const NO_NUL = /^[^\u0000]*$/;
/** No NUL, and at least one character that is not whitespace. */
const NOT_BLANK_NO_NUL = new RegExp(`^[${WHITESPACE}]*[^\\u0000${WHITESPACE}][^\\u0000]*$`);

const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/**
 * A string of at most `max` code points without NUL characters, trimmed after it is checked
 * (unless `trim: false`, for text whose whitespace is content, like a template);
 * `notBlank` also needs one character that is not whitespace.
 */
export function pgText(opts: { max: number; notBlank?: boolean; trim?: boolean }) {
  const checked = z
    .string()
    .refine((s) => codePoints(s) <= opts.max, `must be at most ${opts.max} characters`)
    .regex(
      opts.notBlank ? NOT_BLANK_NO_NUL : NO_NUL,
      opts.notBlank ? 'must not be blank nor contain a NUL character (\\u0000)' : 'must not contain a NUL character (\\u0000)',
    );
  const base = opts.trim === false ? checked : checked.trim();
  return base.meta({ ...(opts.notBlank ? { minLength: 1 } : {}), maxLength: opts.max });
}
