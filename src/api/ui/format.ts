import type { ItemStatus, JobStatus } from '../../domain/enums';

/**
 * Formatting for the dashboard's templates: numbers with units, absolute times with a relative hint,
 * and one look per status (a symbol and the word, besides the colour).
 */

const INT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** 12345 -> "12,345". */
export const int = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : INT.format(n));

/** USD with enough digits for a cent's fraction: 0.0123 -> "$0.0123", 12.5 -> "$12.50". */
export function usd(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  if (n === 0) return '$0.00';
  return n < 1 ? `$${n.toPrecision(3).replace(/0+$/, '')}` : `$${n.toFixed(2)}`;
}

/** 95 -> "1 min 35 s"; null -> "–". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min${s % 60 ? ` ${s % 60} s` : ''}`;
  const h = Math.floor(m / 60);
  return `${h} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

/** "2026-12-02 06:47:03 UTC". */
export function absolute(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** "3 min ago", "in 20 s", "just now". */
export function relative(iso: string, now = Date.now()): string {
  const diff = (new Date(iso).getTime() - now) / 1000;
  if (Math.abs(diff) < 5) return 'just now';
  return diff < 0 ? `${duration(-diff)} ago` : `in ${duration(diff)}`;
}

/** Percent of `part` in `whole`, whole numbers: 1 of 3 -> 33. */
export const percent = (part: number, whole: number): number => (whole > 0 ? Math.floor((part / whole) * 100) : 0);

const SYMBOLS: Record<JobStatus | ItemStatus, string> = {
  queued: '○',
  processing: '◐',
  paused: '‖',
  completed: '✓',
  failed: '✕',
  cancelled: '⊘',
};

/** The symbol shown before a status word (so a status never depends on colour alone). */
export const statusSymbol = (status: JobStatus | ItemStatus): string => SYMBOLS[status];

/** What the templates get as `it.f`. */
export const formatters = { int, usd, duration, absolute, relative, percent, statusSymbol };
export type Formatters = typeof formatters;
