import type { IncomingMessage, ServerResponse } from 'node:http';
import { localServer } from '../../helpers/local-server.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { download, DownloadError, type FileLocation } from '../../../src/media/download.ts';

/** A file host on 127.0.0.1 whose routes the tests script; it counts the requests each path got. */
let close: () => Promise<void>;
let origin = '';
const hits = new Map<string, number>();
const routes = new Map<string, (req: IncomingMessage, res: ServerResponse, hit: number) => void>();

beforeAll(async () => {
  ({ origin, close } = await localServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const hit = (hits.get(path) ?? 0) + 1;
    hits.set(path, hit);
    const route = routes.get(path);
    if (route) route(req, res, hit);
    else res.writeHead(404).end();
  }));
});

afterAll(() => close());

const options = (overrides: Partial<Parameters<typeof download>[1]> = {}) => ({ timeoutMs: 2_000, tries: 3, backoffMs: 1, signal: new AbortController().signal, ...overrides });
const at = (path: string, maxBytes = 1_000): FileLocation => ({ url: `${origin}${path}`, allows: (url) => url.origin === origin, maxBytes });
const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (err: unknown) => err as DownloadError);

describe('download: only the platform file host, within limits, retried when worth it', () => {
  it('fetches the bytes', async () => {
    routes.set('/ok', (_req, res) => res.writeHead(200, { 'content-length': 5 }).end('hello'));
    expect((await download(at('/ok'), options())).toString()).toBe('hello');
  });

  it('never contacts a host the channel did not allow, nor follows a redirect to one', async () => {
    const elsewhere = await failure(download({ url: 'http://169.254.169.254/latest/meta-data', allows: () => false, maxBytes: 10 }, options()));
    expect(elsewhere).toBeInstanceOf(DownloadError);
    expect(elsewhere!.message).toBe("the file is on 169.254.169.254, which is not the platform's file host");
    routes.set('/redirect', (_req, res) => res.writeHead(302, { location: 'http://127.0.0.2:9/secret' }).end());
    const redirected = await failure(download(at('/redirect'), options()));
    expect(redirected!.message).toBe("the file is on 127.0.0.2:9, which is not the platform's file host");
    expect(hits.get('/redirect')).toBe(1);
    routes.set('/moved', (_req, res) => res.writeHead(301, { location: '/ok' }).end());
    expect((await download(at('/moved'), options())).toString()).toBe('hello');
  });

  it('stops at the size limit, announced or streamed', async () => {
    routes.set('/big', (_req, res) => res.writeHead(200, { 'content-length': 5_000 }).end(Buffer.alloc(5_000)));
    expect((await failure(download(at('/big', 4_999), options())))?.message).toBe('the file is larger than 5 KB');
    routes.set('/streamed', (_req, res) => {
      res.writeHead(200); // chunked: no length announced
      res.write(Buffer.alloc(800));
      res.end(Buffer.alloc(800));
    });
    const streamed = await failure(download(at('/streamed', 1_000), options()));
    expect(streamed).toMatchObject({ retryable: false });
    expect(hits.get('/streamed')).toBe(1);
  });

  it('tries again after a 5xx or a cut connection, not after a 404', async () => {
    routes.set('/flaky', (_req, res, hit) => (hit < 3 ? res.writeHead(503).end() : res.writeHead(200).end('third time')));
    expect((await download(at('/flaky'), options())).toString()).toBe('third time');
    routes.set('/cut', (req, res, hit) => (hit === 1 ? req.socket.destroy() : res.writeHead(200).end('again')));
    expect((await download(at('/cut'), options())).toString()).toBe('again');
    routes.set('/gone', (_req, res) => res.writeHead(404).end());
    expect(await failure(download(at('/gone'), options()))).toMatchObject({ message: `127.0.0.1:${new URL(origin).port} answered HTTP 404`, retryable: false });
    expect(hits.get('/gone')).toBe(1);
    routes.set('/down', (_req, res) => res.writeHead(500).end());
    expect(await failure(download(at('/down'), options()))).toMatchObject({ retryable: true });
    expect(hits.get('/down')).toBe(3);
  });

  it('gives up on a host that does not send the file in time; the message names the host, never the path (a token may be in it)', async () => {
    routes.set('/bot123:SECRET/slow', () => undefined); // never answers
    const slow = await failure(download({ ...at('/bot123:SECRET/slow'), url: `${origin}/bot123:SECRET/slow` }, options({ timeoutMs: 100, tries: 2 })));
    expect(slow!.message).toBe(`127.0.0.1:${new URL(origin).port} did not send the file within 0.1 s`);
    expect(hits.get('/bot123:SECRET/slow')).toBe(2);
    const stopped = new AbortController();
    stopped.abort();
    expect((await failure(download(at('/ok'), options({ signal: stopped.signal }))))?.message).toMatch(/cancelled/);
  });
});
