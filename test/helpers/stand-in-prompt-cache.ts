import { createHash } from 'node:crypto';
import { minCacheableTokens } from '../../src/generation/pricing';
import { seededRandom } from '../../src/generation/prng';

/**
 * STAND-IN prompt-cache accounting for the stand-in LLM servers (no model, no real cache): how
 * Anthropic and OpenAI would count a request's input tokens with their prompt caches, so tests can
 * see writes, reads and the minimum length at work. Tokens are counted as ceil(characters / 4).
 *
 * Anthropic (explicit breakpoints): the request's blocks in cache order (each tool as JSON, the
 * system blocks, the messages' content blocks) up to and including the last block with
 * `cache_control` are the cached prefix, keyed by a SHA-256 of the model and that text. When the
 * prefix has fewer tokens than the minimum (`minTokens`, default {@link minCacheableTokens} of the
 * model) nothing is cached. Else the first request with the prefix writes it
 * (`cache_creation_input_tokens`), later ones within the TTL (`ttl` '5m' or '1h', refreshed on
 * each read) read it (`cache_read_input_tokens`); `input_tokens` is the rest, as Anthropic counts.
 *
 * OpenAI (automatic): a request's text (its `response_format`, then each message's content) is
 * compared with every request seen in the last 5 minutes; the longest common prefix, when it is
 * 1024 tokens or more, is reported as `prompt_tokens_details.cached_tokens` (rounded down to a
 * step of 128 tokens, as OpenAI does), included in `prompt_tokens`. So the first request of a
 * template caches nothing and the later ones read the shared head (system message, template head).
 */

/** Usage counts as Anthropic reports them. */
export interface AnthropicCacheUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** Usage counts as OpenAI reports them (`cached_tokens` is part of `prompt_tokens`). */
export interface OpenAICacheUsage {
  prompt_tokens: number;
  cached_tokens: number;
}

export interface PromptCacheOptions {
  /** The clock (default `Date.now`); a fake one lets tests pass the TTL. */
  now?: () => number;
  /** The minimum cacheable prefix in tokens, for every model (default: per model, {@link minCacheableTokens}). */
  minTokens?: number;
}

/** A stand-in prompt cache shared by the requests of one stand-in server. */
export interface StandInPromptCache {
  anthropic(params: unknown): AnthropicCacheUsage;
  openai(body: unknown): OpenAICacheUsage;
  /** Cached prefixes by key, with when they expire. */
  readonly entries: ReadonlyMap<string, { expiresAt: number; tokens: number }>;
  clear(): void;
}

const TTL_MS = { '5m': 5 * 60_000, '1h': 60 * 60_000 } as const;
const OPENAI_MIN_TOKENS = 1024;

const tokens = (chars: number) => Math.ceil(chars / 4);

/** Starts an empty stand-in prompt cache. */
export function createStandInPromptCache(options: PromptCacheOptions = {}): StandInPromptCache {
  const now = options.now ?? Date.now;
  const entries = new Map<string, { expiresAt: number; tokens: number }>();
  /** OpenAI request texts (model first, so models never share) and when they were last seen. */
  const openaiSeen = new Map<string, number>();
  const minimum = (model: string) => options.minTokens ?? minCacheableTokens(model);

  /** Writes or reads `prefix`; returns which, refreshing the entry's expiry. */
  const touch = (key: string, prefixTokens: number, ttlMs: number): 'write' | 'read' => {
    const entry = entries.get(key);
    const hit = entry !== undefined && entry.expiresAt > now();
    entries.set(key, { expiresAt: now() + ttlMs, tokens: prefixTokens });
    return hit ? 'read' : 'write';
  };

  return {
    entries,
    clear: () => {
      entries.clear();
      openaiSeen.clear();
    },
    anthropic(params) {
      const p = (params ?? {}) as { model?: string };
      const blocks = anthropicBlocks(params);
      const total = blocks.reduce((sum, block) => sum + block.text.length, 0);
      const last = blocks.map((block) => block.ttl !== undefined).lastIndexOf(true);
      const none = { input_tokens: tokens(total), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
      if (last === -1) return none;
      const prefix = blocks
        .slice(0, last + 1)
        .map((block) => block.text)
        .join('\u0000');
      const prefixChars = blocks.slice(0, last + 1).reduce((sum, block) => sum + block.text.length, 0);
      const prefixTokens = tokens(prefixChars);
      if (prefixTokens < minimum(p.model ?? '')) return none;
      const key = hash(`anthropic\u0000${p.model ?? ''}\u0000${prefix}`);
      const what = touch(key, prefixTokens, TTL_MS[blocks[last]!.ttl ?? '5m']);
      return {
        input_tokens: tokens(total - prefixChars),
        cache_creation_input_tokens: what === 'write' ? prefixTokens : 0,
        cache_read_input_tokens: what === 'read' ? prefixTokens : 0,
      };
    },
    openai(body) {
      const b = (body ?? {}) as { model?: string; messages?: Array<{ content?: unknown }>; response_format?: unknown };
      const text = (content: unknown) => (typeof content === 'string' ? content : JSON.stringify(content ?? ''));
      const full = `${b.model ?? ''}\u0000${JSON.stringify(b.response_format ?? null)}${(b.messages ?? []).map((m) => text(m.content)).join('')}`;
      const promptTokens = tokens(full.length - (b.model ?? '').length - 1);
      let common = 0;
      for (const [seen, at] of openaiSeen) if (at + TTL_MS['5m'] > now()) common = Math.max(common, commonPrefix(seen, full));
      openaiSeen.set(full, now());
      const commonTokens = Math.floor(Math.max(0, common - (b.model ?? '').length - 1) / 4);
      const cached = commonTokens >= OPENAI_MIN_TOKENS ? Math.floor(commonTokens / 128) * 128 : 0;
      return { prompt_tokens: promptTokens, cached_tokens: Math.min(cached, promptTokens) };
    },
  };
}

interface Block {
  text: string;
  /** Set on a block with `cache_control`. */
  ttl?: '5m' | '1h';
}

/** A request's blocks in Anthropic's cache order: tools, system, messages. */
function anthropicBlocks(params: unknown): Block[] {
  const p = (params ?? {}) as { tools?: unknown[]; system?: unknown; messages?: Array<{ content?: unknown }> };
  const blocks: Block[] = [];
  const add = (value: unknown, text: string) => {
    const control = (value as { cache_control?: { ttl?: '5m' | '1h' } } | null)?.cache_control;
    blocks.push(control ? { text, ttl: control.ttl ?? '5m' } : { text });
  };
  for (const tool of p.tools ?? []) {
    const { cache_control: _ignored, ...rest } = tool as Record<string, unknown>;
    add(tool, JSON.stringify(rest));
  }
  const contentBlocks = (content: unknown) => {
    if (typeof content === 'string') add(undefined, content);
    else if (Array.isArray(content))
      for (const block of content) add(block, String((block as { text?: unknown }).text ?? JSON.stringify(block)));
  };
  contentBlocks(p.system);
  for (const message of p.messages ?? []) contentBlocks(message.content);
  return blocks;
}

function commonPrefix(a: string, b: string): number {
  const max = Math.min(a.length, b.length);
  let i = 0;
  while (i < max && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `items` in an order drawn from `seed` (Fisher-Yates), the same for the same seed. */
export function seededShuffle<T>(items: readonly T[], seed: string): T[] {
  const random = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
