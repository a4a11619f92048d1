import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { z } from 'zod';
import { ToolError } from '../../core/errors.ts';
import { checkLiteralHost, guardedLookup, isPrivateAddress, type AddressPolicy, type Resolve } from './address-guard.ts';
import { decodeBody, htmlToPageText, isHtml, isReadable, parseContentType, plainPageText, type PageText } from './page-text.ts';
import { defineTool, type Tool } from './tool.ts';

export interface WebSettings {
  allow_private: boolean;
  timeout_s: number;
  max_bytes: number;
  max_output_chars: number;
}

export interface FetchOptions {
  timeoutMs: number;
  /** Bytes of the body read (after decompression, so a zip bomb stops here too); the rest is cut. */
  maxBytes: number;
  /** Addresses that may not be reached, on every hop; none when undefined. */
  refused?: AddressPolicy;
  /** How host names become addresses; dns.lookup unless a test needs names of its own. */
  resolve?: Resolve;
}

export interface Page extends PageText {
  url: string;
  truncated: boolean;
}

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const HEADERS = {
  'user-agent': 'mybot/0.1 (web_fetch)',
  accept: 'text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5',
  'accept-encoding': 'gzip, deflate, br',
};

/**
 * GETs a page and returns its readable text. Redirects are followed by hand, so every hop is
 * checked like the first: its scheme, and its addresses against `refused`.
 */
export async function fetchPage(address: string, options: FetchOptions, signal: AbortSignal): Promise<Page> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const both = AbortSignal.any([signal, timeout]);
  let url = parseUrl(address);
  try {
    for (let hop = 0; ; hop++) {
      const response = await get(url, options, both);
      const location = response.headers.location;
      if (REDIRECTS.has(response.statusCode ?? 0) && location) {
        response.destroy();
        if (hop >= MAX_REDIRECTS) throw new ToolError(`${address} redirects more than ${MAX_REDIRECTS} times; give the final URL instead`);
        url = parseUrl(location, url);
        continue;
      }
      return await readPage(url, response, options.maxBytes, both);
    }
  } catch (err) {
    if (timeout.aborted && !signal.aborted) throw new ToolError(`${url.href} did not answer in full within ${options.timeoutMs / 1000} s`);
    throw err;
  }
}

function parseUrl(address: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(address, base);
  } catch {
    throw new ToolError(`'${address}' is not a URL: give a full one, like https://example.com/page`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ToolError(`${url.protocol} URLs cannot be fetched: only http and https`);
  return url;
}

function get(url: URL, options: FetchOptions, signal: AbortSignal): Promise<IncomingMessage> {
  if (options.refused) checkLiteralHost(url.hostname, options.refused);
  const lookup = options.refused ? guardedLookup(options.refused, options.resolve) : undefined;
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // agent: false, no pooled sockets: a connection is always made, so always checked, under the policy of now
    const req = request(url, { method: 'GET', headers: HEADERS, signal, agent: false, ...(lookup ? { lookup } : {}) }, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function readPage(url: URL, response: IncomingMessage, maxBytes: number, signal: AbortSignal): Promise<Page> {
  const status = response.statusCode ?? 0;
  const { mediaType, charset } = parseContentType(response.headers['content-type']);
  if (status < 200 || status >= 300) {
    response.destroy();
    throw new ToolError(`${url.href} answered HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ''}`);
  }
  if (mediaType && !isReadable(mediaType)) {
    response.destroy();
    throw new ToolError(`${url.href} is ${mediaType}, not a page with text`);
  }
  const { bytes, truncated } = await readLimited(decompressed(response), maxBytes, signal);
  const html = isHtml(mediaType) || (!mediaType && /^\s*<(!doctype html|html)/i.test(bytes.subarray(0, 512).toString('latin1')));
  const text = decodeBody(bytes, charset, html);
  return { url: url.href, truncated, ...(html ? htmlToPageText(text, url.href) : plainPageText(text)) };
}

function decompressed(response: IncomingMessage): Readable {
  const encoding = String(response.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decoder = encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : undefined;
  // errors reach the reader through the last stream, which pipeline destroys with them
  return decoder ? pipeline(response, decoder, () => {}) : response;
}

async function readLimited(body: Readable, maxBytes: number, signal: AbortSignal): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  const onAbort = () => body.destroy(signal.reason as Error);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of body) {
      const buffer = chunk as Buffer;
      if (size + buffer.length > maxBytes) {
        chunks.push(buffer.subarray(0, maxBytes - size));
        truncated = true;
        break;
      }
      chunks.push(buffer);
      size += buffer.length;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    body.destroy();
  }
  return { bytes: Buffer.concat(chunks), truncated };
}

/** The page as the model sees it: where it ended up, its title, its text, and whether anything was cut. */
export function formatPage(page: Page, maxChars: number): string {
  const cut = page.text.length > maxChars;
  const text = cut ? page.text.slice(0, maxChars) : page.text;
  const notes = [page.truncated ? 'the page was larger than tools.web.max_bytes; only its start was read' : '', cut ? `text cut at ${maxChars} characters` : ''].filter(Boolean);
  return [`URL: ${page.url}`, ...(page.title ? [`Title: ${page.title}`] : []), '', text || '(the page has no text)', ...(notes.length ? ['', `[${notes.join('; ')}]`] : [])].join('\n');
}

/** `web_fetch`: only offered when tools.web.enabled is true; settings are read at each call, so a config reload applies. */
export function webFetchTool(settings: () => WebSettings): Tool {
  return defineTool({
    name: 'web_fetch',
    description: 'Fetch a web page (http or https) and return its readable text, with links. Use it to read a page the user names or one you found a link to.',
    schema: z.object({ url: z.string().min(1) }),
    async run({ url }, signal) {
      const { allow_private, timeout_s, max_bytes, max_output_chars } = settings();
      const options: FetchOptions = { timeoutMs: timeout_s * 1000, maxBytes: max_bytes, ...(allow_private ? {} : { refused: isPrivateAddress }) };
      return formatPage(await fetchPage(url.trim(), options, signal), max_output_chars);
    },
  });
}
