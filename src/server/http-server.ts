import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface RouteOptions {
  /** Ask for `Authorization: Bearer <server.http_token>` when a token is set (default). A route with a check of its own (a webhook's secret) says false. */
  bearer?: boolean;
}

/** Where routes are added: the shared server, or a port of their own. */
export interface RouteHost {
  /** Serves `method path` until the returned function is called. */
  route(method: 'GET' | 'POST', path: string, handler: RouteHandler, options?: RouteOptions): () => void;
}

interface Route {
  handler: RouteHandler;
  bearer: boolean;
}

/** Request bodies larger than this are refused (a Telegram update is a few KB). */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The daemon's one HTTP server: a map of `METHOD /path` to handlers that other modules add to
 * (health, metrics, webhooks). Node's http module is enough for a handful of fixed routes; a
 * framework would only add a dependency.
 */
export class HttpServer implements RouteHost {
  private readonly routes = new Map<string, Route>();
  private readonly server: Server;
  private listening?: { host: string; port: number };

  constructor(
    private readonly options: { host: string; port: number; token: () => string | undefined; log: Logger },
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
    // a slow or idle client must not hold a socket forever
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
  }

  route(method: 'GET' | 'POST', path: string, handler: RouteHandler, options: RouteOptions = {}): () => void {
    const key = `${method} ${path}`;
    if (this.routes.has(key)) throw new Error(`${key} is already served`);
    const route = { handler, bearer: options.bearer ?? true };
    this.routes.set(key, route);
    return () => {
      if (this.routes.get(key) === route) this.routes.delete(key);
    };
  }

  /** Listens; resolves with the address it got (port 0 picks a free one). */
  async start(): Promise<{ host: string; port: number }> {
    const { host, port, log } = this.options;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.listening = { host, port: (this.server.address() as AddressInfo).port };
    this.server.on('error', (err) => log.error({ err }, 'HTTP server error'));
    log.info({ host, port: this.listening.port, routes: [...this.routes.keys()] }, 'HTTP server listening');
    return this.listening;
  }

  get address(): { host: string; port: number } | undefined {
    return this.listening;
  }

  async stop(): Promise<void> {
    if (!this.listening) return;
    this.listening = undefined;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const route = this.routes.get(`${method} ${path}`);
    if (!route) {
      const known = [...this.routes.keys()].some((key) => key.endsWith(` ${path}`));
      return sendText(res, known ? 405 : 404, known ? 'method not allowed' : 'not found');
    }
    if (route.bearer && !this.authorized(req)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return sendText(res, 401, 'unauthorized: send Authorization: Bearer <server.http_token>');
    }
    try {
      await route.handler(req, res);
    } catch (err) {
      this.options.log.error({ err, path }, 'HTTP handler failed');
      if (!res.headersSent) sendText(res, 500, 'internal error');
      else res.destroy();
    }
  }

  private authorized(req: IncomingMessage): boolean {
    const token = this.options.token();
    if (!token) return true;
    return sameSecret(req.headers.authorization ?? '', `Bearer ${token}`);
  }
}

/** Compares in constant time, so the answer's timing tells nothing about how much of a guess was right. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body), 'application/json');
}

/** The request body, or undefined when it is larger than `maxBytes` (the request is then answered 413). */
export async function readBody(req: IncomingMessage, res: ServerResponse, maxBytes = MAX_BODY_BYTES): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      sendText(res, 413, 'request body too large');
      req.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
