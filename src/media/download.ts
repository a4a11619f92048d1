import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { MybotError } from '../core/errors.ts';
import { pause } from '../core/pause.ts';
import { megabytes } from './file-kinds.ts';

/** Where a file a user sent can be fetched, as its channel says: a URL on the platform's own file host. */
export interface FileLocation {
  url: string;
  /** Hosts the download may touch, redirects included: the platform's own file host and nothing else. */
  allows(url: URL): boolean;
  /** The platform's limit for this download, in bytes. */
  maxBytes: number;
}

export interface DownloadOptions {
  /** One try, from the request to the last byte. */
  timeoutMs: number;
  /** Tries in all; a 4xx (the file is gone, the link expired) is not tried again. */
  tries: number;
  /** Between tries, doubled each time. */
  backoffMs: number;
  signal: AbortSignal;
}

/** A download that failed; the message names the host only (a Telegram file URL carries the bot token). */
export class DownloadError extends MybotError {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const MAX_REDIRECTS = 3;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export const DOWNLOAD_DEFAULTS = { timeoutMs: 60_000, tries: 3, backoffMs: 1_000 } as const;

/** GETs the file into memory, at most `maxBytes`; retries the network, 429 and 5xx. */
export async function download(location: FileLocation, options: DownloadOptions): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await downloadOnce(location, options);
    } catch (err) {
      const error = toDownloadError(err, location, options);
      if (!error.retryable || attempt >= options.tries || options.signal.aborted) throw error;
      if (!(await pause(options.backoffMs * 2 ** (attempt - 1), options.signal))) throw error;
    }
  }
}

async function downloadOnce(location: FileLocation, options: DownloadOptions): Promise<Buffer> {
  // linked by hand, not with AbortSignal.any: on Node 20 a signal derived from a long-lived one
  // (the agent's, aborted only at stop) is never freed once a listener was added (nodejs/node#55351)
  const call = new AbortController();
  const stop = () => call.abort(options.signal.reason);
  const timer = setTimeout(() => call.abort(new DOMException('download timed out', 'TimeoutError')), options.timeoutMs);
  if (options.signal.aborted) stop();
  else options.signal.addEventListener('abort', stop, { once: true });
  try {
    return await fetchFile(location, call.signal);
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', stop);
  }
}

async function fetchFile(location: FileLocation, signal: AbortSignal): Promise<Buffer> {
  let url = new URL(location.url);
  for (let hop = 0; ; hop++) {
    if (!location.allows(url)) throw new DownloadError(`the file is on ${url.host}, which is not the platform's file host`, false);
    const response = await get(url, signal);
    const status = response.statusCode ?? 0;
    const redirect = response.headers.location;
    if (REDIRECTS.has(status) && redirect && hop < MAX_REDIRECTS) {
      response.destroy();
      url = new URL(redirect, url);
      continue;
    }
    if (status < 200 || status >= 300) {
      response.destroy();
      throw new DownloadError(`${url.host} answered HTTP ${status}`, status === 408 || status === 429 || status >= 500);
    }
    const announced = Number(response.headers['content-length']);
    if (announced > location.maxBytes) {
      response.destroy();
      throw tooLarge(location.maxBytes);
    }
    return await readAtMost(response, location.maxBytes, signal);
  }
}

function get(url: URL, signal: AbortSignal): Promise<IncomingMessage> {
  const request = url.protocol === 'https:' ? httpsRequest : url.protocol === 'http:' ? httpRequest : undefined;
  if (!request) return Promise.reject(new DownloadError(`${url.protocol} links cannot be downloaded`, false));
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', signal }, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function readAtMost(body: IncomingMessage, maxBytes: number, signal: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const onAbort = () => body.destroy(signal.reason as Error);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) throw tooLarge(maxBytes);
      chunks.push(chunk as Buffer);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    body.destroy();
  }
  const announced = Number(body.headers['content-length']);
  if (Number.isFinite(announced) && size < announced) throw new DownloadError(`the download ended after ${size} of ${announced} bytes`, true);
  return Buffer.concat(chunks);
}

function tooLarge(maxBytes: number): DownloadError {
  return new DownloadError(`the file is larger than ${megabytes(maxBytes)}`, false);
}

function toDownloadError(err: unknown, location: FileLocation, options: DownloadOptions): DownloadError {
  if (err instanceof DownloadError) return err;
  const host = safeHost(location.url);
  if (options.signal.aborted) return new DownloadError(`the download from ${host} was cancelled`, false);
  const name = (err as { name?: string }).name;
  if (name === 'TimeoutError' || name === 'AbortError') return new DownloadError(`${host} did not send the file within ${options.timeoutMs / 1000} s`, true);
  const code = (err as NodeJS.ErrnoException).code;
  return new DownloadError(`could not reach ${host}${code ? ` (${code})` : ''}`, true);
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the file host';
  }
}
