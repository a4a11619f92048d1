import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookup } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { guardedLookup, isPrivateAddress, type Resolve } from '../../../src/agent/tools/address-guard.ts';
import { ToolRegistry } from '../../../src/agent/tools/registry.ts';
import { fetchPage, formatPage, webFetchTool, type FetchOptions, type WebSettings } from '../../../src/agent/tools/web.ts';

describe('isPrivateAddress', () => {
  it.each([
    '127.0.0.1', '127.255.255.254', '10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.255', '192.168.1.1',
    '169.254.169.254', '0.0.0.0', '0.1.2.3', '100.64.0.1', '224.0.0.1', '255.255.255.255',
    '::1', '::', '[::1]', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'fe80::1%eth0', 'febf::1', 'ff02::1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:192.168.0.1', '::127.0.0.1',
    'localhost', 'not an address',
  ])('refuses %s', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.15.255.255', '172.32.0.1', '192.169.0.1', '169.255.0.1', '11.0.0.1', '2606:4700:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8'])(
    'allows the public %s',
    (address) => {
      expect(isPrivateAddress(address)).toBe(false);
    },
  );
});

describe('guardedLookup', () => {
  const resolveTo =
    (...addresses: string[]): Resolve =>
    (_host, _options, callback) =>
      callback(null, addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  const run = (resolve: Resolve, all: boolean) =>
    new Promise<{ err: Error | null; address: unknown; family?: number }>((done) =>
      guardedLookup(isPrivateAddress, resolve)('example.test', { all }, (err, address, family) => done({ err, address, family })),
    );

  it('passes public addresses on, in the form the socket asked for', async () => {
    expect(await run(resolveTo('93.184.216.34', '2606:2800:220:1::1'), true)).toMatchObject({ err: null, address: [{ address: '93.184.216.34' }, { address: '2606:2800:220:1::1' }] });
    expect(await run(resolveTo('93.184.216.34'), false)).toMatchObject({ err: null, address: '93.184.216.34', family: 4 });
  });

  it('refuses the host when any of its addresses is private, naming it', async () => {
    const { err } = await run(resolveTo('93.184.216.34', '::1'), true);
    expect(err?.message).toMatch(/^refused: example\.test resolves to ::1, a loopback, private or link-local address.*tools\.web\.allow_private: true/);
    expect((await run(resolveTo('10.0.0.7'), false)).err?.message).toMatch(/resolves to 10\.0\.0\.7/);
  });
});

describe('fetchPage and web_fetch', () => {
  let server: Server;
  let base: string;
  let port: number;
  const pending = new Set<import('node:http').ServerResponse>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? '/';
      if (path === '/page') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<!doctype html><html><head><title>Test &amp; Page</title><style>p{color:red}</style><script>var secret = 1</script></head><body><nav>Home | About</nav><h1>Caf\u00e9 news</h1><p>Read <a href="/more">more here</a>.</p><img src="x.png" alt="pic"></body></html>');
      } else if (path === '/latin1') {
        res.writeHead(200, { 'content-type': 'text/html; charset=iso-8859-1' });
        res.end(Buffer.from('<p>Caf\u00e9</p>', 'latin1'));
      } else if (path === '/plain') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('just text\n');
      } else if (path === '/gzip') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
        res.end(gzipSync('compressed text'));
      } else if (path === '/bomb') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
        res.end(gzipSync(Buffer.alloc(50_000_000, 'a')));
      } else if (path === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('b'.repeat(100_000));
      } else if (path === '/image') {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(Buffer.alloc(10));
      } else if (path === '/missing') {
        res.writeHead(404, { 'content-type': 'text/html' });
        res.end('<p>nope</p>');
      } else if (path === '/hang') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('started...');
        pending.add(res);
      } else if (path.startsWith('/redirect?to=')) {
        res.writeHead(302, { location: decodeURIComponent(path.slice('/redirect?to='.length)) });
        res.end();
      } else if (path === '/loop') {
        res.writeHead(301, { location: '/loop' });
        res.end();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    for (const res of pending) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const open: FetchOptions = { timeoutMs: 5_000, maxBytes: 1_000_000 };
  const guarded: FetchOptions = { ...open, refused: isPrivateAddress };
  const signal = () => new AbortController().signal;
  const registry = (settings: Partial<WebSettings>) => {
    const tools = new ToolRegistry([webFetchTool(() => ({ allow_private: false, timeout_s: 5, max_bytes: 1_000_000, max_output_chars: 20_000, ...settings }))]);
    return (url: string) => tools.run({ id: 'c', name: 'web_fetch', arguments: JSON.stringify({ url }) }, signal());
  };

  it('returns the readable text of an HTML page: title, no scripts, styles, navigation or images, links absolute', async () => {
    const page = await fetchPage(`${base}/page`, open, signal());
    expect(page.title).toBe('Test & Page');
    expect(page.text).toContain('CAF\u00c9 NEWS');
    expect(page.text).toContain(`more here [${base}/more]`);
    expect(page.text).not.toMatch(/secret|color|Home \| About|x\.png/);
    expect(formatPage(page, 1000)).toMatch(new RegExp(`^URL: ${base}/page\nTitle: Test & Page\n\n`));
  });

  it('decodes the declared charset, plain text and gzip', async () => {
    expect((await fetchPage(`${base}/latin1`, open, signal())).text).toBe('Caf\u00e9');
    expect((await fetchPage(`${base}/plain`, open, signal())).text).toBe('just text');
    expect((await fetchPage(`${base}/gzip`, open, signal())).text).toBe('compressed text');
  });

  it('reads at most max_bytes, also of a decompressed body, and says it cut', async () => {
    const big = await fetchPage(`${base}/big`, { ...open, maxBytes: 1000 }, signal());
    expect(big).toMatchObject({ truncated: true, text: 'b'.repeat(1000) });
    expect(formatPage(big, 10)).toMatch(/\[the page was larger than tools\.web\.max_bytes; only its start was read; text cut at 10 characters\]$/);
    const bomb = await fetchPage(`${base}/bomb`, { ...open, maxBytes: 10_000 }, signal());
    expect(bomb.text).toHaveLength(10_000);
  });

  it('gives up after timeout_s on a server that never finishes', async () => {
    const started = Date.now();
    await expect(fetchPage(`${base}/hang`, { ...open, timeoutMs: 300 }, signal())).rejects.toThrow(/did not answer in full within 0\.3 s/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('refuses what is not a text page, HTTP errors, other schemes and non-URLs', async () => {
    await expect(fetchPage(`${base}/image`, open, signal())).rejects.toThrow(/is image\/png, not a page with text/);
    await expect(fetchPage(`${base}/missing`, open, signal())).rejects.toThrow(/answered HTTP 404 Not Found/);
    await expect(fetchPage('file:///etc/passwd', open, signal())).rejects.toThrow(/file: URLs cannot be fetched: only http and https/);
    await expect(fetchPage('example.com', open, signal())).rejects.toThrow(/is not a URL: give a full one/);
    await expect(fetchPage(`${base}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`, open, signal())).rejects.toThrow(/only http and https/);
    await expect(fetchPage(`${base}/loop`, open, signal())).rejects.toThrow(/redirects more than 5 times/);
  });

  it.each([
    ['an IPv4 literal', () => `${base}/page`, /refused: 127\.0\.0\.1 is a loopback/],
    ['a name that resolves to loopback', () => `http://localhost:${port}/page`, /refused: localhost resolves to (127\.0\.0\.1|::1)/],
    ['an IPv6 literal', () => `http://[::1]:${port}/page`, /refused: ::1 is/],
    ['an IPv4-mapped IPv6 literal', () => `http://[::ffff:127.0.0.1]:${port}/page`, /refused: ::ffff:7f00:1 is/],
    ['0.0.0.0', () => `http://0.0.0.0:${port}/page`, /refused: 0\.0\.0\.0 is/],
    ['a decimal IPv4', () => `http://2130706433:${port}/page`, /refused: 127\.0\.0\.1 is/],
    ['the cloud metadata address', () => 'http://169.254.169.254/latest/meta-data/', /refused: 169\.254\.169\.254 is/],
  ])('refuses %s while private addresses are not allowed', async (_case, url, reason) => {
    await expect(fetchPage(url(), guarded, signal())).rejects.toThrow(reason);
  });

  it('checks every redirect hop: a public-looking first hop may not lead to a private address', async () => {
    // the policy here refuses only 10/8, so the test server on loopback is the "public" first hop
    const resolve: Resolve = (host, options, callback) => (host === 'intranet.test' ? callback(null, [{ address: '10.1.2.3', family: 4 }]) : lookup(host, options, callback));
    const options: FetchOptions = { ...open, refused: (ip) => ip.startsWith('10.'), resolve };
    await expect(fetchPage(`${base}/redirect?to=${encodeURIComponent('http://intranet.test/admin')}`, options, signal())).rejects.toThrow(/refused: intranet\.test resolves to 10\.1\.2\.3/);
    await expect(fetchPage(`${base}/redirect?to=${encodeURIComponent('http://10.0.0.1/')}`, options, signal())).rejects.toThrow(/refused: 10\.0\.0\.1 is/);
    expect((await fetchPage(`${base}/redirect?to=${encodeURIComponent('/plain')}`, options, signal())).url).toBe(`${base}/plain`);
  });

  it('as a tool: refused as an error for the model unless allow_private, then the text', async () => {
    expect(await registry({ allow_private: false })(`${base}/page`)).toMatch(/^Error: refused: 127\.0\.0\.1 is a loopback, private or link-local address/);
    expect(await registry({ allow_private: false })(`http://localhost:${port}/page`)).toMatch(/^Error: refused: localhost resolves to/);
    const text = await registry({ allow_private: true })(`${base}/page`);
    expect(text).toMatch(/^URL: http:\/\/127\.0\.0\.1:\d+\/page\nTitle: Test & Page\n\nCAF\u00c9 NEWS/);
    expect(await registry({ allow_private: true, max_output_chars: 5 })(`${base}/plain`)).toContain('just \n\n[text cut at 5 characters]');
    expect(await registry({ allow_private: true })(`http://127.0.0.1:1/`)).toMatch(/^Error: web_fetch failed \(ECONNREFUSED\)/);
  });
});
