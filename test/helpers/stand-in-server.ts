import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP server that stands in for a paid LLM API in tests: it speaks the provider's wire
 * format only (no model behind it), answers each request with the next scripted response and
 * records what it received. It listens on 127.0.0.1, port 0 (a free port).
 */

/** One scripted answer. */
export interface ScriptedResponse {
  /** Default 200. */
  status?: number;
  headers?: Record<string, string>;
  /** Sent as JSON (content-type application/json). */
  body?: unknown;
  /** Sent verbatim instead of `body`, with `contentType` (default application/json). */
  rawBody?: string;
  contentType?: string;
  /** Wait this long before answering; a client that gives up meanwhile is recorded as aborted. */
  delayMs?: number;
}

/** A request as the stand-in saw it. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The JSON body, or undefined when it was not JSON. */
  body: unknown;
  rawBody: string;
  /** `Date.now()` when the request (headers and body) had arrived. */
  receivedAt: number;
  /** True when the client closed the connection before the response ended. */
  aborted: boolean;
}

/** Answers a request: a fixed script entry, or computed from the request and its index (from 0). */
export type Responder = (req: RecordedRequest, index: number) => ScriptedResponse;

/** A running stand-in. */
export interface StandInServer {
  /** e.g. 'http://127.0.0.1:40123' (no trailing slash). */
  url: string;
  /** Every request, in arrival order. */
  requests: RecordedRequest[];
  /** Appends answers for the next requests, in order. */
  enqueue(...responses: Array<ScriptedResponse | Responder>): void;
  /** What to answer once the queue is empty (default: a 500 saying nothing was scripted). */
  otherwise(responder: Responder): void;
  /** Resolves once `count` requests have arrived. */
  waitForRequests(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Forgets requests and scripted answers (between tests). */
  reset(): void;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

const unscripted: Responder = () => ({
  status: 500,
  body: { error: { type: 'api_error', message: 'the stand-in server has no scripted response for this request' } },
});

/** Starts a stand-in server. */
export async function startStandInServer(): Promise<StandInServer> {
  const requests: RecordedRequest[] = [];
  let queue: Array<ScriptedResponse | Responder> = [];
  let fallback: Responder = unscripted;
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        body: parseJson(rawBody),
        rawBody,
        receivedAt: Date.now(),
        aborted: false,
      };
      const index = requests.length;
      requests.push(recorded);
      // The response's 'close' before it ended means the client went away (an aborted request).
      res.on('close', () => {
        if (!res.writableEnded) recorded.aborted = true;
      });
      const next = queue.shift() ?? fallback;
      const scripted = typeof next === 'function' ? next(recorded, index) : next;
      const send = () => {
        if (res.destroyed) return;
        const status = scripted.status ?? 200;
        const payload = scripted.rawBody ?? (scripted.body === undefined ? '' : JSON.stringify(scripted.body));
        res.writeHead(status, { 'content-type': scripted.contentType ?? 'application/json', ...scripted.headers });
        res.end(payload);
      };
      if (scripted.delayMs && scripted.delayMs > 0) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          send();
        }, scripted.delayMs);
        timers.add(timer);
        res.on('close', () => {
          clearTimeout(timer);
          timers.delete(timer);
        });
      } else {
        send();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    enqueue(...responses) {
      queue.push(...responses);
    },
    otherwise(responder) {
      fallback = responder;
    },
    async waitForRequests(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < count) {
        if (Date.now() > deadline) throw new Error(`stand-in server: timed out waiting for ${count} requests (got ${requests.length})`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return requests.slice(0, count);
    },
    reset() {
      requests.length = 0;
      queue = [];
      fallback = unscripted;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

/** A valid conversation for a stand-in to return (what a model would have written). */
export function standInConversation(turns = 4): Record<string, unknown> {
  return {
    conversation_metadata: {
      client_persona: 'Marcus Chen, Anxious Planner',
      session_context: 'stand-in server conversation about an emergency fund',
      conversation_phase: 'Fear to Confidence: fear to confidence',
      expected_outcome: 'Marcus feels able to start saving',
    },
    turns: Array.from({ length: turns }, (_, i) => ({
      turn_number: i + 1,
      role: i % 2 === 0 ? 'user' : 'assistant',
      content: i % 2 === 0 ? `I am worried about my savings (turn ${i + 1}).` : `Let us take it one step at a time (turn ${i + 1}).`,
      emotional_context: { primary_emotion: i < turns / 2 ? 'fear' : 'confidence', intensity: 0.5 },
    })),
  };
}
