import { setMaxListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeContentReply = {
  content?: string;
  toolCalls?: Array<{ name: string; arguments: string; id?: string }>;
  delayMs?: number;
  usage?: { prompt_tokens: number; completion_tokens: number };
  finishReason?: string;
} & StreamPacing;
/** How a streamed text goes out: in `pieces` pieces (default 4), `pieceDelayMs` apart (default: all at once). */
export type StreamPacing = { pieces?: number; pieceDelayMs?: number };
export type FakeFault =
  | { fault: 'status'; status: number; retryAfterS?: number; message?: string }
  | { fault: 'drop' }
  | { fault: 'malformed' }
  /** Streams all pieces of `content` but the last, then drops the connection. */
  | ({ fault: 'cut-stream'; content: string } & StreamPacing);
export type FakeReply = FakeContentReply | FakeFault;

/** `unanswered`: the client went away (a cancelled call) or the connection dropped before the whole answer was written. */
export type FakeRequest = { body: any; messages: any[]; model: string; stream: boolean; at: number; unanswered: boolean };
/** One call of POST /v1/audio/transcriptions: the model asked for and the file sent. */
export type TranscriptionRequest = { model: string; fileName: string; size: number; contentType: string; at: number };
/** The transcript for one call, or a fault (an HTTP status). By default the file's bytes read as UTF-8: tests put the "speech" there. */
export type Transcribe = (req: TranscriptionRequest, audio: Buffer) => { text: string } | { status: number; message?: string };

/** The image parts (`image_url`) of a request's messages, in order: what the model was shown. */
export function imagePartsOf(request: FakeRequest): Array<{ type: 'image_url'; image_url: { url: string } }> {
  return request.messages.flatMap((m) => (Array.isArray(m?.content) ? m.content.filter((p: any) => p?.type === 'image_url') : []));
}
export type FakeResponder = (req: FakeRequest) => FakeReply | Promise<FakeReply>;

const MODEL_ID = 'fake-model';

/** Resolves true after ms, or false as soon as one of the signals aborts; never rejects. */
function pause(ms: number, ...signals: AbortSignal[]): Promise<boolean> {
  if (signals.some((s) => s.aborted)) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(true), ms);
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
  });
}

/** Splits text into up to `parts` pieces on code-point boundaries (never an empty list). */
function pieces(text: string, parts = 4): string[] {
  const chars = Array.from(text);
  const size = Math.max(1, Math.ceil(chars.length / parts));
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(''));
  return out.length > 0 ? out : [''];
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (p?.type === 'text' ? String(p.text) : '')).join('');
  return '';
}

const tokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

function defaultResponder(req: FakeRequest): FakeReply {
  const lastUser = [...req.messages].reverse().find((m) => m?.role === 'user');
  return { content: `echo: ${textOf(lastUser?.content)}` };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function errorBody(message: string, type: string, code: string | null): unknown {
  return { error: { message, type, code, param: null } };
}

export class FakeOpenAI {
  readonly requests: FakeRequest[] = [];
  readonly transcriptions: TranscriptionRequest[] = [];
  private transcribe: Transcribe = (_req, audio) => ({ text: audio.toString('utf8') });
  /** Set: a request with an image part is refused with this message, as by a model without vision. */
  private blindMessage: string | undefined;
  private readonly queue: FakeReply[] = [];
  private responder: FakeResponder = defaultResponder;
  private latencyMs = 0;
  private failures: { left: number; fault: FakeFault } = { left: 0, fault: { fault: 'drop' } };
  private readonly closing = new AbortController();
  private seq = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {
    // every delayed reply listens for the close: hundreds at once under a load benchmark
    setMaxListeners(0, this.closing.signal);
  }

  static async start(): Promise<FakeOpenAI> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const fake = new FakeOpenAI(server, `http://127.0.0.1:${port}/v1`);
    server.on('request', (req, res) => {
      fake.handle(req, res).catch(() => res.destroy());
    });
    return fake;
  }

  enqueue(...replies: FakeReply[]): void {
    this.queue.push(...replies);
  }

  /** How requests not queued with `enqueue` are answered; without `fn`, by echoing the user's last message again. */
  setResponder(fn: FakeResponder = defaultResponder): void {
    this.responder = fn;
  }

  setTranscriber(fn: Transcribe): void {
    this.transcribe = fn;
  }

  /** From now on (until called with undefined), requests with images are refused with HTTP 400, as OpenAI refuses them for a text-only model. */
  refuseImages(message: string | undefined = 'Invalid content type. image_url is only supported by certain models.'): void {
    this.blindMessage = message;
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  failNext(n: number, fault: FakeFault): void {
    this.failures = { left: n, fault };
  }

  async waitForRequests(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < n) {
      if (Date.now() >= deadline) {
        throw new Error(`FakeOpenAI: expected ${n} chat completion request(s) within ${timeoutMs} ms, got ${this.requests.length}`);
      }
      if (!(await pause(10, this.closing.signal))) throw new Error('FakeOpenAI: closed while waiting for requests');
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/v1/models') {
      const created = Math.floor(Date.now() / 1000);
      return sendJson(res, 200, { object: 'list', data: [{ id: MODEL_ID, object: 'model', created, owned_by: 'fake' }] });
    }
    if (req.method === 'POST' && path === '/v1/audio/transcriptions') return this.transcription(req, Buffer.concat(chunks), res);
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      return sendJson(res, 404, errorBody(`Unknown route ${req.method} ${path}`, 'invalid_request_error', 'unknown_url'));
    }
    let body: any;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return sendJson(res, 400, errorBody('Request body is not valid JSON', 'invalid_request_error', null));
    }
    const request: FakeRequest = {
      body,
      messages: Array.isArray(body?.messages) ? body.messages : [],
      model: String(body?.model ?? ''),
      stream: body?.stream === true,
      at: Date.now(),
      unanswered: false,
    };
    this.requests.push(request);
    if (this.blindMessage !== undefined && imagePartsOf(request).length > 0) {
      return sendJson(res, 400, errorBody(this.blindMessage, 'invalid_request_error', 'invalid_content_type'));
    }

    // Aborted when the client goes away (or the server closes), so delays end early.
    const gone = new AbortController();
    res.on('close', () => {
      gone.abort();
      if (!res.writableFinished) request.unanswered = true;
    });
    let reply: FakeReply;
    if (this.failures.left > 0) {
      this.failures.left -= 1;
      reply = this.failures.fault;
    } else {
      reply = this.queue.shift() ?? (await this.responder(request));
    }
    const delay = this.latencyMs + ('fault' in reply ? 0 : (reply.delayMs ?? 0));
    if (!(await pause(delay, gone.signal, this.closing.signal))) return;
    await this.answer(request, reply, res, gone.signal);
  }

  /** multipart/form-data with `file` and `model`, as the SDK sends it; answers `{ text }` (response_format json). */
  private async transcription(req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('multipart/form-data')) return sendJson(res, 400, errorBody('Expected multipart/form-data', 'invalid_request_error', null));
    const form = await new Response(body, { headers: { 'content-type': type } }).formData();
    const file = form.get('file');
    const model = form.get('model');
    if (typeof file === 'string' || file === null || typeof model !== 'string') return sendJson(res, 400, errorBody("'file' and 'model' are required", 'invalid_request_error', null));
    const audio = Buffer.from(await file.arrayBuffer());
    const request: TranscriptionRequest = { model, fileName: file.name, size: audio.length, contentType: file.type, at: Date.now() };
    this.transcriptions.push(request);
    const answer = this.transcribe(request, audio);
    if ('status' in answer) return sendJson(res, answer.status, errorBody(answer.message ?? `Fake HTTP ${answer.status}`, answer.status >= 500 ? 'server_error' : 'invalid_request_error', null));
    sendJson(res, 200, { text: answer.text });
  }

  private async answer(request: FakeRequest, reply: FakeReply, res: ServerResponse, gone: AbortSignal): Promise<void> {
    if ('fault' in reply) {
      switch (reply.fault) {
        case 'status': {
          const headers: Record<string, string> = reply.retryAfterS === undefined ? {} : { 'retry-after': String(reply.retryAfterS) };
          const type = reply.status === 429 ? 'rate_limit_error' : reply.status >= 500 ? 'server_error' : 'invalid_request_error';
          const code = reply.status === 429 ? 'rate_limit_exceeded' : `http_${reply.status}`;
          return sendJson(res, reply.status, errorBody(reply.message ?? `Fake HTTP ${reply.status}`, type, code), headers);
        }
        case 'drop':
          res.socket?.destroy();
          return;
        case 'malformed':
          if (request.stream) {
            res.writeHead(200, { 'content-type': 'text/event-stream' });
            res.end('data: {"id": "chatcmpl-broken", "choices": [\n\n');
          } else {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end('{"id": "chatcmpl-broken", "choices": [');
          }
          return;
        case 'cut-stream': {
          const id = `chatcmpl-${++this.seq}`;
          const parts = pieces(reply.content, reply.pieces);
          const partial = parts.slice(0, Math.max(1, parts.length - 1));
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const chunks = [{ role: 'assistant', content: '' }, ...partial.map((content) => ({ content }))];
          if (!(await this.writePaced(res, chunks.map((delta) => this.sse(id, request, { delta })), reply.pieceDelayMs, gone))) return;
          res.write('', () => res.socket?.destroy());
          return;
        }
      }
    }

    const id = `chatcmpl-${++this.seq}`;
    const content = reply.content ?? (reply.toolCalls?.length ? null : '');
    const toolCalls = (reply.toolCalls ?? []).map((c, i) => ({
      id: c.id ?? `call_${this.seq}_${i}`,
      type: 'function' as const,
      function: { name: c.name, arguments: c.arguments },
    }));
    const finishReason = reply.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop');
    const promptTokens = reply.usage?.prompt_tokens ?? tokens(request.messages.map((m) => textOf(m?.content)).join(' '));
    const completionTokens = reply.usage?.completion_tokens ?? tokens((content ?? '') + JSON.stringify(toolCalls));
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };

    if (!request.stream) {
      const message = { role: 'assistant', content, refusal: null, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) };
      return sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: request.model || MODEL_ID,
        choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
        usage,
      });
    }

    const deltas: unknown[] = [{ role: 'assistant', content: '' }];
    if (content) for (const piece of pieces(content, reply.pieces)) deltas.push({ content: piece });
    toolCalls.forEach((call, index) => {
      deltas.push({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] });
      for (const fragment of pieces(call.function.arguments, 3)) {
        if (fragment) deltas.push({ tool_calls: [{ index, function: { arguments: fragment } }] });
      }
    });
    const events = deltas.map((delta) => this.sse(id, request, { delta }));
    events.push(this.sse(id, request, { delta: {}, finish_reason: finishReason }));
    if (request.body?.stream_options?.include_usage === true) events.push(this.sse(id, request, null, usage));
    events.push('data: [DONE]\n\n');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (await this.writePaced(res, events, reply.pieceDelayMs, gone)) res.end();
  }

  /** Writes SSE events, `delayMs` apart (all in one write without a delay); false when the client went away. */
  private async writePaced(res: ServerResponse, events: string[], delayMs: number | undefined, gone: AbortSignal): Promise<boolean> {
    if (!delayMs) {
      res.write(events.join(''));
      return true;
    }
    for (const [i, event] of events.entries()) {
      if (i > 0 && !(await pause(delayMs, gone, this.closing.signal))) return false;
      res.write(event);
    }
    return true;
  }

  /** One SSE event; `choice` null means the usage-only chunk (empty choices, as OpenAI sends it). */
  private sse(id: string, request: FakeRequest, choice: { delta: unknown; finish_reason?: string } | null, usage?: unknown): string {
    const chunk = {
      id,
      object: 'chat.completion.chunk',
      created: Math.floor(Date.now() / 1000),
      model: request.model || MODEL_ID,
      choices: choice ? [{ index: 0, delta: choice.delta, logprobs: null, finish_reason: choice.finish_reason ?? null }] : [],
      ...(usage ? { usage } : {}),
    };
    return `data: ${JSON.stringify(chunk)}\n\n`;
  }
}
