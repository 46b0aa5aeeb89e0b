import http from 'node:http';

/** A running gateway. */
export interface Gateway {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The local stand-in for Supabase's API gateway: serves `/rest/v1/*` from
 * PostgREST as a hosted project does, and, like Kong there, refuses a
 * request without a known `apikey` (or bearer) and turns a bare `apikey`
 * into the `Authorization` header PostgREST reads.
 */
export async function startGateway(opts: { port: number; postgrestPort: number; apiKeys: readonly string[] }): Promise<Gateway> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const known = new Set(opts.apiKeys);
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (!url.startsWith('/rest/v1')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"no route matched"}');
      return;
    }
    const apikey = headerValue(req.headers.apikey);
    const bearer = headerValue(req.headers.authorization)?.replace(/^Bearer\s+/i, '');
    if (!(apikey && known.has(apikey)) && !(bearer && known.has(bearer))) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"Invalid API key"}');
      return;
    }
    const headers = { ...req.headers, host: `127.0.0.1:${opts.postgrestPort}` };
    if (!headers.authorization && apikey) headers.authorization = `Bearer ${apikey}`;
    const upstream = http.request(
      { host: '127.0.0.1', port: opts.postgrestPort, method: req.method, path: url.slice('/rest/v1'.length) || '/', headers, agent },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `PostgREST is unreachable: ${err.message}` }));
    });
    req.pipe(upstream);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${opts.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
