import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeAttachment, FakeChannel, FakeMessage, FakeMessageReference, FakeUser } from './discord-gateway.ts';
import type { FakeDiscord } from './discord.ts';

export type RestFault =
  | { kind: '429'; retryAfter: number; global?: boolean }
  | { kind: '500' }
  /** Resets the TCP connection; with `afterHandling` the request takes effect first and only the answer is lost. */
  | { kind: 'drop'; afterHandling?: boolean }
  /** A refusal in Discord's error shape, e.g. 403 50007 "Cannot send messages to this user". */
  | { kind: 'refuse'; status: number; code: number; message: string }
  /** Handled normally, but only after `ms`: a slow API. */
  | { kind: 'slow'; ms: number };

export interface RestRouteMatch {
  method: string;
  /** Tested against the path after `/api/v10`, e.g. `/channels/123/messages`. */
  path: RegExp;
}

export interface UploadedFile {
  field: string;
  name: string;
  size: number;
  contentType: string;
  data: Buffer;
}

export interface RestRequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body (for multipart: its `payload_json`). */
  body: unknown;
  files: UploadedFile[];
  at: number;
  /** HTTP status answered; 0 while pending or when the connection was dropped. */
  status: number;
}

type Json = Record<string, unknown>;
interface Reply {
  status: number;
  body?: unknown;
}
interface Context {
  params: string[];
  query: URLSearchParams;
  body: Json;
  files: UploadedFile[];
}
interface Route {
  method: string;
  path: RegExp;
  auth: boolean;
  run: (ctx: Context) => Reply;
}

const API_PREFIX = /^\/api\/v10(?=\/)/;
const MAX_CONTENT = 2000;
/** Discord collapses a repeated `nonce` + `enforce_nonce` "within the past few minutes". */
const NONCE_WINDOW_MS = 5 * 60_000;
const NOT_FOUND: Reply = { status: 404, body: { message: '404: Not Found', code: 0 } };
const UNKNOWN_CHANNEL: Reply = { status: 404, body: { message: 'Unknown Channel', code: 10003 } };
const UNKNOWN_MESSAGE: Reply = { status: 404, body: { message: 'Unknown Message', code: 10008 } };
const EMPTY_MESSAGE: Reply = { status: 400, body: { message: 'Cannot send an empty message', code: 50006 } };
/** https://discord.com/developers/docs/reference#uploading-files: 10 MB in a server without boosts. */
const UPLOAD_LIMIT = 10 * 1_048_576;
const TOO_LARGE: Reply = { status: 413, body: { message: 'Request entity too large', code: 40005 } };

/** The HTTP half of the fake Discord: routes under /api/v10, auth, validation, nonce, injected faults. */
export class FakeDiscordRest {
  readonly requests: RestRequestRecord[] = [];
  private readonly faults: Array<{ match: RestRouteMatch; remaining: number; fault: RestFault }> = [];
  private readonly randomFaults: Array<{ match: RestRouteMatch; pick: () => RestFault | undefined }> = [];
  private readonly nonces = new Map<string, { message: FakeMessage; at: number }>();
  private readonly routes: Route[] = [
    { method: 'GET', path: /^\/gateway$/, auth: false, run: () => ok({ url: this.world.gatewayUrl }) },
    {
      method: 'GET', path: /^\/gateway\/bot$/, auth: true,
      run: () =>
        ok({
          url: this.world.gatewayUrl, shards: this.world.recommendedShards,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: this.world.maxConcurrency },
        }),
    },
    { method: 'GET', path: /^\/users\/@me$/, auth: true, run: () => ok(this.world.botUser) },
    { method: 'POST', path: /^\/users\/@me\/channels$/, auth: true, run: ({ body }) => ok(this.world.dmChannelFor(String(body['recipient_id']))) },
    { method: 'GET', path: /^\/channels\/(\d+)$/, auth: true, run: ({ params }) => this.withChannel(params[0], (channel) => ok(channel)) },
    { method: 'GET', path: /^\/channels\/(\d+)\/messages$/, auth: true, run: (ctx) => this.listMessages(ctx) },
    { method: 'POST', path: /^\/channels\/(\d+)\/messages$/, auth: true, run: (ctx) => this.createMessage(ctx) },
    { method: 'GET', path: /^\/channels\/(\d+)\/messages\/(\d+)$/, auth: true, run: ({ params }) => this.withMessage(params, (m) => ok(wire(m))) },
    { method: 'PATCH', path: /^\/channels\/(\d+)\/messages\/(\d+)$/, auth: true, run: (ctx) => this.editMessage(ctx) },
    { method: 'DELETE', path: /^\/channels\/(\d+)\/messages\/(\d+)$/, auth: true, run: ({ params }) => this.deleteMessage(params) },
    { method: 'PUT', path: /^\/channels\/(\d+)\/messages\/(\d+)\/reactions\/([^/]+)\/@me$/, auth: true, run: (ctx) => this.react(ctx, true) },
    { method: 'DELETE', path: /^\/channels\/(\d+)\/messages\/(\d+)\/reactions\/([^/]+)\/@me$/, auth: true, run: (ctx) => this.react(ctx, false) },
    {
      method: 'POST', path: /^\/channels\/(\d+)\/typing$/, auth: true,
      run: ({ params }) =>
        this.withChannel(params[0], (channel) => {
          this.world.recordTyping(channel.id);
          return { status: 204 };
        }),
    },
  ];

  constructor(private readonly world: FakeDiscord) {}

  /** The next `n` requests matching `match` answer with `fault` instead of being handled. */
  failNext(match: RestRouteMatch, n: number, fault: RestFault): void {
    this.faults.push({ match: { method: match.method.toUpperCase(), path: match.path }, remaining: n, fault });
  }

  /** From now on, requests matching `match` fail at random: `pick` returns the fault for one request, or undefined to let it through. */
  failRandomly(match: RestRouteMatch, pick: () => RestFault | undefined): void {
    this.randomFaults.push({ match: { method: match.method.toUpperCase(), path: match.path }, pick });
  }

  /** Lifts every `failRandomly`. */
  stopFailing(): void {
    this.randomFaults.length = 0;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    // attachments are served beside the API, as the CDN serves them beside discord.com
    if (url.pathname.startsWith('/attachments/')) return this.serveAttachment(method, url.pathname, res);
    const path = url.pathname.replace(API_PREFIX, '');
    const record: RestRequestRecord = { method, path, query: Object.fromEntries(url.searchParams), body: undefined, files: [], at: Date.now(), status: 0 };
    this.requests.push(record);
    let parsed: { body: unknown; files: UploadedFile[] };
    try {
      parsed = await readBody(req);
    } catch {
      return this.respond(res, record, { status: 400, body: { message: 'The request body contains invalid JSON.', code: 50109 } });
    }
    record.body = parsed.body;
    record.files = parsed.files;

    const fault = this.takeFault(method, path);
    if (fault?.kind === 'drop' && !fault.afterHandling) return void req.socket.resetAndDestroy();
    if (fault?.kind === '429') return this.respond(res, record, rateLimited(fault), rateLimitHeaders(method, path, fault));
    if (fault?.kind === '500') return this.respond(res, record, { status: 500, body: { message: '500: Internal Server Error', code: 0 } });
    if (fault?.kind === 'refuse') return this.respond(res, record, { status: fault.status, body: { message: fault.message, code: fault.code } });
    if (fault?.kind === 'slow') await new Promise((resolve) => setTimeout(resolve, fault.ms));

    const body = isJson(parsed.body) ? parsed.body : {};
    const reply = API_PREFIX.test(url.pathname)
      ? this.route(method, path, { params: [], query: url.searchParams, body, files: parsed.files }, req.headers.authorization)
      : NOT_FOUND;
    if (fault?.kind === 'drop') return void req.socket.resetAndDestroy();
    this.respond(res, record, reply);
  }

  private route(method: string, path: string, ctx: Context, authorization: string | undefined): Reply {
    const candidates = this.routes.filter((r) => r.path.test(path));
    if (candidates.length === 0) return NOT_FOUND;
    const route = candidates.find((r) => r.method === method);
    if (!route) return { status: 405, body: { message: '405: Method Not Allowed', code: 0 } };
    if (route.auth && authorization !== `Bot ${this.world.token}`) return { status: 401, body: { message: '401: Unauthorized', code: 0 } };
    return route.run({ ...ctx, params: route.path.exec(path)?.slice(1) ?? [] });
  }

  private takeFault(method: string, path: string): RestFault | undefined {
    const entry = this.faults.find((f) => f.remaining > 0 && f.match.method === method && f.match.path.test(path));
    if (!entry) return this.randomFaults.find((f) => f.match.method === method && f.match.path.test(path))?.pick();
    entry.remaining--;
    return entry.fault;
  }

  private respond(res: ServerResponse, record: RestRequestRecord, reply: Reply, headers = rateLimitHeaders(record.method, record.path)): void {
    record.status = reply.status;
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers).end();
      return;
    }
    const json = JSON.stringify(reply.body);
    res.writeHead(reply.status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) }).end(json);
  }

  private withChannel(channelId: string | undefined, run: (channel: FakeChannel) => Reply): Reply {
    const channel = this.world.channel(channelId ?? '');
    return channel ? run(channel) : UNKNOWN_CHANNEL;
  }

  private withMessage([channelId, messageId]: string[], run: (message: FakeMessage) => Reply): Reply {
    return this.withChannel(channelId, (channel) => {
      const message = this.world.messages(channel.id).find((m) => m.id === messageId);
      return message ? run(message) : UNKNOWN_MESSAGE;
    });
  }

  /** Discord pages from the anchor (`after`: the oldest ones after it) but always answers newest first. */
  private listMessages({ params, query }: Context): Reply {
    return this.withChannel(params[0], (channel) => {
      const limit = Number(query.get('limit') ?? 50);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) return invalidForm('limit', 'NUMBER_TYPE_MAX', 'int value should be <= 100 and >= 1.');
      const after = query.get('after');
      const before = query.get('before');
      for (const [field, value] of [['after', after], ['before', before]] as const) {
        if (value !== null && !/^\d+$/.test(value)) return invalidForm(field, 'NUMBER_TYPE_COERCE', `Value "${value}" is not snowflake.`);
      }
      // by id, which is by time: a message can be created with an earlier timestamp than the last one
      const all = this.world.messages(channel.id).sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
      const page = after
        ? all.filter((m) => BigInt(m.id) > BigInt(after)).slice(0, limit)
        : before
          ? all.filter((m) => BigInt(m.id) < BigInt(before)).slice(-limit)
          : all.slice(-limit);
      return ok(page.reverse().map(wire));
    });
  }

  private createMessage({ params, body, files }: Context): Reply {
    return this.withChannel(params[0], (channel) => {
      const content = typeof body['content'] === 'string' ? body['content'] : '';
      if (content.length > MAX_CONTENT) return invalidForm('content', 'BASE_TYPE_MAX_LENGTH', `Must be ${MAX_CONTENT} or fewer in length.`);
      const embeds = Array.isArray(body['embeds']) ? (body['embeds'] as unknown[]) : [];
      const stickers = Array.isArray(body['sticker_ids']) ? body['sticker_ids'].length : 0;
      if (!content && embeds.length === 0 && files.length === 0 && stickers === 0 && !body['poll']) return EMPTY_MESSAGE;
      if (files.some((file) => file.size > UPLOAD_LIMIT)) return TOO_LARGE;

      const nonce = body['nonce'];
      if (nonce !== undefined && nonce !== null) {
        if (typeof nonce !== 'string' && typeof nonce !== 'number') return invalidForm('nonce', 'BASE_TYPE_INVALID', 'Must be a string or an integer.');
        if (String(nonce).length > 25) return invalidForm('nonce', 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 25 in length.');
        const seen = this.nonces.get(String(nonce));
        if (body['enforce_nonce'] === true && seen && Date.now() - seen.at < NONCE_WINDOW_MS) return ok(wire(seen.message));
      }

      const reference = isJson(body['message_reference']) ? (body['message_reference'] as FakeMessageReference) : undefined;
      const target = reference?.message_id
        ? this.world.messages(reference.channel_id ?? channel.id).find((m) => m.id === reference.message_id)
        : undefined;
      if (reference?.message_id && !target && reference.fail_if_not_exists !== false) {
        return invalidForm('message_reference', 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', 'Unknown message');
      }
      const targetChannel = target && this.world.channel(target.channel_id);
      const allowed = body['allowed_mentions'];
      const message = this.world.composeMessage(channel, this.world.botUser, {
        content,
        embeds,
        mentions: this.mentionsFor(content, allowed, target),
        attachments: files.map((f) => this.attachmentFor(channel.id, f)),
        type: target ? 19 : 0,
        ...(typeof nonce === 'string' || typeof nonce === 'number' ? { nonce } : {}),
        ...(target && targetChannel ? this.world.replyFields(targetChannel, target) : {}),
        ...(allowed !== undefined ? { allowed_mentions: allowed } : {}),
      });
      this.world.postMessage(message);
      if (message.nonce !== undefined) this.nonces.set(String(message.nonce), { message, at: Date.now() });
      return ok(wire(message));
    });
  }

  private editMessage({ params, body }: Context): Reply {
    return this.withMessage(params, (message) => {
      if (message.author.id !== this.world.botUser.id) {
        return { status: 403, body: { message: 'Cannot edit a message authored by another user', code: 50005 } };
      }
      const content = typeof body['content'] === 'string' ? body['content'] : message.content;
      if (content.length > MAX_CONTENT) return invalidForm('content', 'BASE_TYPE_MAX_LENGTH', `Must be ${MAX_CONTENT} or fewer in length.`);
      const embeds = Array.isArray(body['embeds']) ? (body['embeds'] as unknown[]) : message.embeds;
      if (!content && embeds.length === 0 && message.attachments.length === 0) return EMPTY_MESSAGE;
      Object.assign(message, { content, embeds, edited_timestamp: new Date().toISOString() });
      if (typeof body['content'] === 'string') {
        // An edit re-parses `<@id>` mentions but keeps the reply ping the message was created with.
        const replied = message.referenced_message?.author;
        const pinged = replied && message.mentions.some((u) => u.id === replied.id) ? [replied] : [];
        const parsed = this.mentionsFor(content, body['allowed_mentions'] ?? message.allowed_mentions, undefined);
        message.mentions = [...pinged, ...parsed.filter((u) => u.id !== replied?.id)];
      }
      this.world.announceEdit(message);
      return ok(wire(message));
    });
  }

  /** The bot's own reaction on a message: PUT adds it, DELETE removes it (204 either way, as Discord answers). */
  private react({ params }: Context, add: boolean): Reply {
    return this.withMessage(params, (message) => {
      this.world.recordReaction({ channelId: message.channel_id, messageId: message.id, emoji: decodeURIComponent(params[2] ?? ''), added: add, at: Date.now() });
      return { status: 204 };
    });
  }

  /** A bot may delete its own messages; others' need Manage Messages, which the fake bot never has. */
  private deleteMessage(params: string[]): Reply {
    return this.withMessage(params, (message) => {
      if (message.author.id !== this.world.botUser.id) return { status: 403, body: { message: 'Missing Permissions', code: 50013 } };
      this.world.removeMessage(message);
      return { status: 204 };
    });
  }

  /** Who a bot message pings: `<@id>` users filtered by allowed_mentions, plus the replied-to author by default. */
  private mentionsFor(content: string, allowed: unknown, target: FakeMessage | undefined): FakeUser[] {
    const rules = isJson(allowed) ? allowed : undefined;
    const parse = Array.isArray(rules?.['parse']) ? (rules['parse'] as unknown[]) : [];
    const listed = Array.isArray(rules?.['users']) ? (rules['users'] as unknown[]) : [];
    const users = this.world.mentionsIn(content).filter((u) => !rules || parse.includes('users') || listed.includes(u.id));
    // Without allowed_mentions a reply pings its author; with it, only when replied_user is true.
    const pingReplied = rules ? rules['replied_user'] === true : true;
    if (target && pingReplied && !users.some((u) => u.id === target.author.id)) users.push(target.author);
    return users;
  }

  private attachmentFor(channelId: string, file: UploadedFile): FakeAttachment {
    return this.world.storeAttachment(channelId, { name: file.name, data: file.data, contentType: file.contentType });
  }

  private async serveAttachment(method: string, path: string, res: ServerResponse): Promise<void> {
    const data = this.world.attachmentData.get(path);
    if (method !== 'GET' || !data) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found');
      return;
    }
    if (this.world.fileLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.world.fileLatencyMs));
    this.world.downloads.push(path);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length }).end(data);
  }
}

function ok(body: unknown): Reply {
  return { status: 200, body };
}

function invalidForm(field: string, code: string, message: string): Reply {
  return { status: 400, body: { message: 'Invalid Form Body', code: 50035, errors: { [field]: { _errors: [{ code, message }] } } } };
}

function rateLimited(fault: { retryAfter: number; global?: boolean }): Reply {
  return { status: 429, body: { message: 'You are being rate limited.', retry_after: fault.retryAfter, global: fault.global ?? false } };
}

/** A stable bucket per method + route shape, like Discord's opaque X-RateLimit-Bucket. */
function bucketFor(method: string, path: string): string {
  return createHash('sha1').update(`${method} ${path.replace(/\d{5,}/g, ':id')}`).digest('hex').slice(0, 32);
}

/** Normal answers report a roomy bucket; a 429 reports it empty until `retryAfter` (what @discordjs/rest waits on). */
function rateLimitHeaders(method: string, path: string, fault?: { retryAfter: number; global?: boolean }): Record<string, string> {
  const resetAfter = fault ? fault.retryAfter : 1;
  const headers: Record<string, string> = {
    'X-RateLimit-Limit': '5',
    'X-RateLimit-Remaining': fault ? '0' : '4',
    'X-RateLimit-Reset': ((Date.now() + resetAfter * 1000) / 1000).toFixed(3),
    'X-RateLimit-Reset-After': resetAfter.toFixed(3),
    'X-RateLimit-Bucket': bucketFor(method, path),
  };
  if (!fault) return headers;
  headers['Retry-After'] = String(fault.retryAfter);
  headers['X-RateLimit-Scope'] = fault.global ? 'global' : 'user';
  if (fault.global) headers['X-RateLimit-Global'] = 'true';
  return headers;
}

/** The message as Discord's REST answers it: no gateway-only fields, no fake-only annotations. */
function wire(message: FakeMessage): Json {
  const { allowed_mentions: _annotation, member: _member, channel_type: _type, ...rest } = message;
  return rest;
}

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readBody(req: IncomingMessage): Promise<{ body: unknown; files: UploadedFile[] }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  if (raw.length === 0) return { body: undefined, files: [] };
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('multipart/form-data')) return { body: JSON.parse(raw.toString('utf8')) as unknown, files: [] };
  // discord.js uploads files as multipart: a `payload_json` part plus `files[n]` parts.
  const form = await new Response(raw, { headers: { 'content-type': type } }).formData();
  let body: unknown;
  const files: UploadedFile[] = [];
  for (const [field, value] of form.entries()) {
    if (typeof value !== 'string') files.push({ field, name: value.name, size: value.size, contentType: value.type, data: Buffer.from(await value.arrayBuffer()) });
    else if (field === 'payload_json') body = JSON.parse(value) as unknown;
  }
  return { body, files };
}
