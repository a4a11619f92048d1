import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parseMultipart, type FormPart } from './multipart.ts';
import { BadText, detectEntities, parseMessageText, type TelegramEntity } from './telegram-html.ts';
import { WebhookSender, type WebhookSetting } from './telegram-webhook.ts';

export type { TelegramEntity } from './telegram-html.ts';

export type ChatType = 'private' | 'group' | 'supergroup';
export type FakeUser = { id: number; is_bot: boolean; first_name: string; username?: string };
export type FakeChat = { id: number; type: ChatType; title?: string; first_name?: string; username?: string; is_forum?: true };
export type FakeMessage = {
  message_id: number; date: number; chat: FakeChat; from: FakeUser; edit_date?: number;
  text?: string; entities?: TelegramEntity[]; caption?: string; caption_entities?: TelegramEntity[];
  photo?: Array<{ file_id: string; file_unique_id: string; width: number; height: number; file_size: number }>;
  sticker?: Record<string, unknown>;
  voice?: FakeFileRef & { duration: number; mime_type: string };
  audio?: FakeFileRef & { duration: number; mime_type?: string; file_name?: string };
  video_note?: FakeFileRef & { duration: number; length: number };
  document?: FakeFileRef & { file_name?: string; mime_type?: string };
  media_group_id?: string;
  reply_to_message?: FakeMessage; message_thread_id?: number; is_topic_message?: true;
};
export type FakeFileRef = { file_id: string; file_unique_id: string; file_size: number };
/** A file a user sends: its bytes (served by getFile and the file path) and how Telegram describes it. */
export type FakeFile = { data: Buffer; name?: string; mime?: string };
/** A file the bot uploaded (sendPhoto, sendDocument). */
export type Upload = { method: string; chatId: number; field: string; name: string; size: number; data: Buffer; caption?: string; at: number };
export type FakeUpdate = { update_id: number; message?: FakeMessage; edited_message?: FakeMessage; [kind: string]: unknown };
export type TelegramFault =
  | { kind: '429'; retryAfter: number }
  | { kind: '500' }
  | { kind: 'drop'; afterEffect?: boolean } // afterEffect: perform the call, then drop (the client can't tell)
  | { kind: 'parse-entities' }
  | { kind: 'conflict' }
  /** A refusal for good, e.g. 403 "Forbidden: bot was blocked by the user", 400 "Bad Request: message is too long". */
  | { kind: 'refuse'; code: number; description: string };
export type RecordedRequest = { method: string; params: Record<string, unknown>; at: number; status?: number };
export type ChatAction = { chatId: number; action: string; threadId?: number; at: number };
export type Edit = { chatId: number; messageId: number; text: string; at: number };
/** setMessageReaction as the fake took it: an empty `emojis` removes the bot's reaction. */
export type Reaction = { chatId: number; messageId: number; emojis: string[]; at: number };
export type UserSaysOptions = {
  chatId?: number; chatType?: ChatType; isForum?: boolean; threadId?: number;
  userId?: number; firstName?: string; username?: string; isBot?: boolean;
  /** text defaults to 'hello'; entities default to the /command and @mentions Telegram detects. */
  text?: string; entities?: TelegramEntity[]; replyToMessage?: FakeMessage;
  /** Prepends "@<botUsername> " to the text (or caption). */
  mention?: boolean;
  /** Media carry an optional caption instead of text. `photo: true` is a small JPEG. */
  photo?: boolean | Buffer; sticker?: boolean; caption?: string;
  voice?: Buffer; audio?: FakeFile; videoNote?: Buffer; document?: FakeFile;
  /** Messages of one album share it (see userSendsAlbum). */
  mediaGroupId?: string;
  /** edited: an edited_message update (give messageId to edit an earlier one). */
  edited?: boolean; messageId?: number;
};

const DEFAULT_USER_ID = 4242;
/** https://core.telegram.org/bots/api#getfile: bots download files up to 20 MB, and upload up to 50 MB. */
const GET_FILE_LIMIT = 20 * 1_048_576;
const UPLOAD_LIMIT = 50 * 1_048_576;
/** A 1 × 1 JPEG: what `photo: true` sends. */
const TINY_JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA=',
  'base64',
);
/** https://core.telegram.org/bots/api#sendmessage: 1-4096 characters after entities parsing. */
const MAX_TEXT = 4096;
const DEFAULT_GROUP_ID = -4_000_000_001;
const DEFAULT_SUPERGROUP_ID = -1_001_000_000_001;
// Telegram's default when allowed_updates is empty: everything but these.
const OPT_IN_UPDATES = ['chat_member', 'message_reaction', 'message_reaction_count'];
const BOT_CAPABILITIES = { can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false };
const CONFLICT = 'Conflict: terminated by other getUpdates request';
const WEBHOOK_ACTIVE = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
const NOT_MODIFIED =
  'message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message';

class ApiError extends Error {
  constructor(readonly code: number, readonly description: string, readonly parameters?: { retry_after: number }) {
    super(description);
  }
  body(): unknown {
    const { code: error_code, description, parameters } = this;
    return { ok: false, error_code, description, ...(parameters ? { parameters } : {}) };
  }
}

const badRequest = (what: string): ApiError => new ApiError(400, `Bad Request: ${what}`);
const tooMany = (s: number): ApiError => new ApiError(429, `Too Many Requests: retry after ${s}`, { retry_after: s });
const now = (): number => Math.floor(Date.now() / 1000);
const key = (chatId: number, messageId: number): string => `${chatId}:${messageId}`;
const fileIds = (id: string): { file_id: string; file_unique_id: string } => ({ file_id: id, file_unique_id: `u${id}` });
const withoutReply = ({ reply_to_message: _, ...m }: FakeMessage): FakeMessage => m;

// Form and query values arrive as strings; Telegram accepts JSON-serialized objects there.
function num(v: unknown): number | undefined {
  const n = v === undefined || v === null || v === '' ? NaN : Number(v);
  return Number.isFinite(n) ? n : undefined;
}
const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));
function json<T>(v: unknown): T | undefined {
  if (typeof v !== 'string') return (v ?? undefined) as T | undefined;
  try {
    return JSON.parse(v) as T;
  } catch {
    return undefined;
  }
}

function faultError(fault: Exclude<TelegramFault, { kind: 'drop' }>): ApiError {
  if (fault.kind === '429') return tooMany(fault.retryAfter);
  if (fault.kind === '500') return new ApiError(500, 'Internal Server Error');
  if (fault.kind === 'conflict') return new ApiError(409, CONFLICT);
  if (fault.kind === 'refuse') return new ApiError(fault.code, fault.description);
  return badRequest(`can't parse entities: Unsupported start tag "fault" at byte offset 0`);
}

type UploadedPart = { field: string; name: string; data: Buffer };

async function readParams(req: IncomingMessage, url: URL, uploads: UploadedPart[]): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  const raw = bytes.toString('utf8');
  const query = Object.fromEntries(url.searchParams);
  const type = req.headers['content-type'] ?? '';
  if (raw === '') return query;
  if (type.startsWith('multipart/form-data')) {
    // grammY uploads files as multipart: the other parameters are form fields beside them
    const params: Record<string, unknown> = { ...query };
    let parts: FormPart[];
    try {
      parts = parseMultipart(bytes, type);
    } catch (err) {
      throw badRequest(`can't parse the multipart body: ${(err as Error).message}`);
    }
    for (const part of parts) {
      if (part.filename === undefined) params[part.name] = part.data.toString('utf8');
      else uploads.push({ field: part.name, name: part.filename, data: part.data });
    }
    return params;
  }
  if (type.includes('application/json')) {
    const body = json<unknown>(raw);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('invalid JSON body');
    return { ...query, ...(body as Record<string, unknown>) };
  }
  if (type.includes('application/x-www-form-urlencoded')) return { ...query, ...Object.fromEntries(new URLSearchParams(raw)) };
  return query;
}

type Poll = { offset: number; limit: number; finish: (updates: FakeUpdate[] | ApiError) => void };

/** A Telegram Bot API server on 127.0.0.1 for grammY (`client.apiRoot`), with injected traffic and faults. */
export class FakeTelegram {
  readonly requests: RecordedRequest[] = [];
  /** Files the bot sent (sendPhoto, sendDocument), in order. */
  readonly uploads: Upload[] = [];
  /** The file paths the bot downloaded (GET {apiRoot}/file/bot<token>/<file_path>), one entry per download. */
  readonly downloads: string[] = [];
  /** How long a file download waits before the bytes go out: a slow file server. */
  fileLatencyMs = 0;
  readonly edits: Edit[] = [];
  readonly chatActions: ChatAction[] = [];
  readonly reactions: Reaction[] = [];
  /** setWebhook's setting while one is set: updates then go to it instead of getUpdates. */
  webhook: WebhookSetting | undefined;
  /** Delivers updates to the webhook; set `webhookSender.route` to reach the daemon. */
  readonly webhookSender: WebhookSender;
  /** The highest offset a getUpdates call confirmed: every update below it is gone for good. */
  confirmedOffset = 0;
  apiRoot = '';
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly sent: FakeMessage[] = [];
  private readonly messages = new Map<string, FakeMessage>();
  private readonly chats = new Map<number, FakeChat>();
  private readonly lastMessageId = new Map<number, number>();
  private readonly polls = new Set<Poll>();
  private readonly faults = new Map<string, TelegramFault[]>();
  private readonly faultRates = new Map<string, () => TelegramFault | undefined>();
  private readonly commands = new Map<string, unknown>();
  private readonly files = new Map<string, { data: Buffer; path: string; uniqueId: string }>();
  private nextFile = 1;
  private readonly groupSends = new Map<number, number[]>();
  /** Chats about to be rate limited (seconds of retry_after), and chats rate limited until a time. */
  private readonly chatLimitsArmed = new Map<number, number>();
  private readonly chatBlockedUntil = new Map<number, number>();
  private groupLimit: number | undefined;
  private groupWindowMs = 60_000;
  private queue: FakeUpdate[] = [];
  private allowedUpdates: string[] = [];
  private nextUpdateId = 100_000_001;

  private constructor(
    readonly token: string,
    readonly bot: FakeUser & { username: string },
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.webhookSender = new WebhookSender(
      () => this.webhook,
      () => {
        const update = this.queue.find((u) => this.wanted(u));
        return update && { update, delivered: () => (this.queue = this.queue.filter((u) => u !== update)) };
      },
    );
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(opts: { token?: string; botUsername?: string; botId?: number } = {}): Promise<FakeTelegram> {
    const botId = opts.botId ?? num(opts.token?.split(':')[0]) ?? 7_000_000_001;
    const token = opts.token ?? `${botId}:AAFakeTelegramTokenForTests`;
    const username = opts.botUsername ?? 'mybot_test_bot';
    const fake = new FakeTelegram(token, { id: botId, is_bot: true, first_name: 'mybot', username });
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.apiRoot = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  /** Destroys every connection (held long polls included) and stops listening. */
  async close(): Promise<void> {
    this.webhookSender.stop();
    for (const socket of this.sockets) socket.destroy();
    for (const poll of this.polls) poll.finish([]);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** getUpdates requests currently held open. */
  get heldPolls(): number {
    return this.polls.size;
  }

  /** Updates not yet confirmed by the bot. */
  get pendingUpdates(): FakeUpdate[] {
    return [...this.queue];
  }

  /** The next n calls of method (case-insensitive, '*' for any) answer with fault instead. */
  failNext(method: string, n: number, fault: TelegramFault): void {
    const list = this.faults.get(method.toLowerCase()) ?? [];
    for (let i = 0; i < n; i++) list.push(fault);
    this.faults.set(method.toLowerCase(), list);
  }

  /**
   * From now on, calls of method ('*' for any) fail at random: `pick` returns the fault for one call,
   * or undefined to let it through (e.g. 30% of calls: `() => rng() < 0.3 ? fault : undefined`).
   * Queued `failNext` faults come first. `pick` undefined lifts it.
   */
  failRandomly(method: string, pick: (() => TelegramFault | undefined) | undefined): void {
    if (pick) this.faultRates.set(method.toLowerCase(), pick);
    else this.faultRates.delete(method.toLowerCase());
  }

  /** Group chats accept at most `limit` sendMessage calls per rolling window (a minute, as Telegram's), then 429; undefined lifts it. */
  limitGroupSends(limit: number | undefined, windowMs = 60_000): void {
    this.groupLimit = limit;
    this.groupWindowMs = windowMs;
  }

  /**
   * The next call aimed at `chatId` (any method with that chat_id) answers 429 with `retry_after`, and
   * so does every call to that chat until those seconds have passed, as Telegram's flood wait does.
   */
  rateLimitChat(chatId: number, retryAfterS: number): void {
    this.chatLimitsArmed.set(chatId, retryAfterS);
  }

  botMessages(chatId?: number): FakeMessage[] {
    return this.sent.filter((m) => chatId === undefined || m.chat.id === chatId);
  }

  /** Queues an update (update_id assigned unless given) and wakes held long polls. */
  sendUpdate(partial: Partial<FakeUpdate>): FakeUpdate {
    return this.sendUpdates([partial])[0]!;
  }

  /** Queues several updates before waking the held long polls: they go out in one batch. */
  sendUpdates(partials: Array<Partial<FakeUpdate>>): FakeUpdate[] {
    const updates = partials.map((partial) => {
      const update: FakeUpdate = { ...partial, update_id: partial.update_id ?? this.nextUpdateId };
      this.nextUpdateId = Math.max(this.nextUpdateId, update.update_id + 1);
      for (const msg of [update.message, update.edited_message]) if (msg) this.remember(msg);
      this.queue.push(update);
      return update;
    });
    this.webhookSender.kick();
    for (const poll of this.polls) {
      const ready = this.deliverable(poll.offset, poll.limit);
      if (ready.length > 0) poll.finish(ready);
    }
    return updates;
  }

  /** Injects a realistic message (or edit) from a user and returns it, e.g. to reply to it. */
  userSays(o: UserSaysOptions = {}): FakeMessage {
    const msg = this.compose(o);
    this.sendUpdate(o.edited ? { edited_message: msg } : { message: msg });
    return msg;
  }

  /**
   * An album: one message per item, sharing a media_group_id, queued at once so they reach the bot
   * in one getUpdates batch, as Telegram sends them. A caption, if any, goes on the first item.
   */
  userSendsAlbum(items: UserSaysOptions[], groupId = `album-${this.nextFile++}`): FakeMessage[] {
    const messages = items.map((item) => {
      const msg = this.compose({ ...item, mediaGroupId: groupId });
      this.remember(msg);
      return msg;
    });
    this.sendUpdates(messages.map((message) => ({ message })));
    return messages;
  }

  /** Registers bytes the bot can fetch with getFile; returns the ids a message carries. */
  addFile(data: Buffer, folder = 'documents', ext = ''): FakeFileRef {
    const n = this.nextFile++;
    const file = { file_id: `file-${n}-${data.length}`, file_unique_id: `unique-${n}`, file_size: data.length };
    this.files.set(file.file_id, { data, path: `${folder}/file_${n}${ext}`, uniqueId: file.file_unique_id });
    return file;
  }

  /** Files a test can compare: the bytes of an upload. */
  uploadsTo(chatId: number): Upload[] {
    return this.uploads.filter((u) => u.chatId === chatId);
  }

  private compose(o: UserSaysOptions): FakeMessage {
    const type = o.chatType ?? (o.chatId !== undefined && o.chatId < 0 ? 'supergroup' : 'private');
    const userId = o.userId ?? (type === 'private' ? o.chatId : undefined) ?? DEFAULT_USER_ID;
    const firstName = o.firstName ?? 'Alice';
    const username = o.username ?? firstName.toLowerCase();
    const from: FakeUser = { id: userId, is_bot: o.isBot ?? false, first_name: firstName, username };
    const chatId = type === 'private' ? userId : (o.chatId ?? (type === 'group' ? DEFAULT_GROUP_ID : DEFAULT_SUPERGROUP_ID));
    const known = this.chats.get(chatId);
    const chat: FakeChat =
      type === 'private'
        ? { id: chatId, type, first_name: firstName, username }
        : { id: chatId, type, title: known?.title ?? 'Test Group', ...((o.isForum ?? known?.is_forum) ? { is_forum: true } : {}) };
    const messageId = o.messageId ?? this.nextMessageId(chatId);
    const previous = this.messages.get(key(chatId, messageId));
    const prefix = o.mention ? `@${this.bot.username} ` : '';
    const msg: FakeMessage = { message_id: messageId, date: previous?.date ?? now(), chat, from };
    if (o.edited) msg.edit_date = now();
    const media = o.photo || o.sticker || o.voice || o.audio || o.videoNote || o.document;
    if (media) {
      // Media carry a caption, not text; a mention goes there.
      if (o.caption !== undefined || o.mention) msg.caption = `${prefix}${o.caption ?? ''}`.trimEnd();
      const entities = msg.caption === undefined ? [] : detectEntities(msg.caption);
      if (entities.length > 0) msg.caption_entities = entities;
    } else {
      msg.text = `${prefix}${o.text ?? 'hello'}`;
      const entities = o.entities ?? detectEntities(msg.text);
      if (entities.length > 0) msg.entities = entities;
    }
    if (o.photo) {
      const data = o.photo === true ? TINY_JPEG : o.photo;
      // Telegram sends a few sizes, smallest first; the bot takes the largest
      msg.photo = [90, 1280].map((w, i) => (i === 0 ? { ...fileIds(`photo-${messageId}-${i}`), width: w, height: (w * 3) / 4, file_size: w * 100 } : { ...this.addFile(data, 'photos', '.jpg'), width: w, height: (w * 3) / 4 }));
    }
    if (o.voice) msg.voice = { ...this.addFile(o.voice, 'voice', '.oga'), duration: 3, mime_type: 'audio/ogg' };
    if (o.audio) msg.audio = { ...this.addFile(o.audio.data, 'music', ''), duration: 60, ...(o.audio.mime ? { mime_type: o.audio.mime } : {}), ...(o.audio.name ? { file_name: o.audio.name } : {}) };
    if (o.videoNote) msg.video_note = { ...this.addFile(o.videoNote, 'video_notes', '.mp4'), duration: 5, length: 240 };
    if (o.document) msg.document = { ...this.addFile(o.document.data, 'documents', ''), ...(o.document.name ? { file_name: o.document.name } : {}), ...(o.document.mime ? { mime_type: o.document.mime } : {}) };
    if (o.mediaGroupId) msg.media_group_id = o.mediaGroupId;
    if (o.sticker) {
      msg.sticker = { ...fileIds(`sticker-${messageId}`), type: 'regular', width: 512, height: 512, is_animated: false, is_video: false, emoji: '👍' };
    }
    if (o.replyToMessage) msg.reply_to_message = withoutReply(o.replyToMessage);
    if (o.threadId !== undefined) {
      msg.message_thread_id = o.threadId;
      if (chat.is_forum) msg.is_topic_message = true;
    }
    return msg;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname.startsWith('/file/')) return this.serveFile(url, req, res);
    const route = /^\/bot([^/]+)\/(?:test\/)?([^/]+)$/.exec(url.pathname);
    const rec: RecordedRequest = { method: route?.[2] ?? url.pathname, params: {}, at: Date.now() };
    this.requests.push(rec);
    const reply = (status: number, body: unknown): void => {
      rec.status = status;
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const parts: UploadedPart[] = [];
      rec.params = await readParams(req, url, parts);
      if (!route) throw new ApiError(404, 'Not Found');
      if (decodeURIComponent(route[1] as string) !== this.token) throw new ApiError(401, 'Unauthorized');
      const method = rec.method.toLowerCase(); // Bot API method names are case-insensitive
      this.checkChatLimit(num(rec.params.chat_id));
      const fault = this.takeFault(method);
      if (fault?.kind === 'drop' && !fault.afterEffect) return this.drop(req, rec);
      if (fault && fault.kind !== 'drop') throw faultError(fault);
      const result = await this.call(method, rec.params, res, parts);
      if (fault) return this.drop(req, rec);
      reply(200, { ok: true, result });
    } catch (err) {
      if (err instanceof ApiError) reply(err.code, err.body());
      else reply(500, { ok: false, error_code: 500, description: `Internal Server Error: ${String(err)}` });
    }
  }

  private drop(req: IncomingMessage, rec: RecordedRequest): void {
    rec.status = 0;
    req.socket.destroy();
  }

  private takeFault(method: string): TelegramFault | undefined {
    return this.faults.get(method)?.shift() ?? this.faults.get('*')?.shift() ?? (this.faultRates.get(method) ?? this.faultRates.get('*'))?.();
  }

  private call(method: string, p: Record<string, unknown>, res: ServerResponse, parts: UploadedPart[]): unknown {
    switch (method) {
      case 'getfile':
        return this.getFile(p);
      case 'sendphoto':
      case 'senddocument':
        return this.sendFile(method === 'sendphoto' ? 'photo' : 'document', p, parts);
      case 'getme':
        return { ...this.bot, ...BOT_CAPABILITIES };
      case 'deletewebhook':
        if (json<boolean>(p.drop_pending_updates) === true) this.queue = [];
        this.webhook = undefined;
        return true;
      case 'setwebhook': {
        const url = str(p.url) ?? '';
        if (url === '') {
          this.webhook = undefined;
          return true;
        }
        const secret = str(p.secret_token);
        if (secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secret)) throw badRequest('secret token contains unallowed characters');
        const allowed = json<string[]>(p.allowed_updates);
        if (Array.isArray(allowed)) this.allowedUpdates = allowed;
        this.webhook = { url, ...(secret ? { secret } : {}), ...(Array.isArray(allowed) ? { allowedUpdates: allowed } : {}) };
        this.webhookSender.kick();
        return true;
      }
      case 'getwebhookinfo': {
        const error = this.webhookSender.lastError;
        return {
          url: this.webhook?.url ?? '',
          has_custom_certificate: false,
          pending_update_count: this.queue.length,
          ...(error ? { last_error_date: error.date, last_error_message: error.message } : {}),
        };
      }
      case 'setmessagereaction': {
        const chat = this.chatOf(p.chat_id);
        const messageId = num(p.message_id) ?? 0;
        if (!this.messages.has(key(chat.id, messageId))) throw badRequest('message to react not found');
        const reaction = json<Array<{ type: string; emoji?: string }>>(p.reaction) ?? [];
        this.reactions.push({ chatId: chat.id, messageId, emojis: reaction.map((r) => r.emoji ?? ''), at: Date.now() });
        return true;
      }
      case 'getupdates':
        if (this.webhook) throw new ApiError(409, WEBHOOK_ACTIVE);
        return this.getUpdates(p, res);
      case 'sendmessage':
        return this.sendMessage(p);
      case 'sendchataction': {
        const chat = this.chatOf(p.chat_id);
        const threadId = num(p.message_thread_id);
        const action: ChatAction = { chatId: chat.id, action: str(p.action) ?? '', at: Date.now() };
        this.chatActions.push(threadId === undefined ? action : { ...action, threadId });
        return true;
      }
      case 'editmessagetext':
        return this.editMessageText(p);
      case 'deletemessage': {
        const chat = this.chatOf(p.chat_id);
        const msg = this.messages.get(key(chat.id, num(p.message_id) ?? 0));
        if (!msg) throw badRequest('message to delete not found');
        this.messages.delete(key(chat.id, msg.message_id));
        // botMessages lists what the chat shows: a deleted one is gone from it
        const sent = this.sent.indexOf(msg);
        if (sent >= 0) this.sent.splice(sent, 1);
        return true;
      }
      case 'setmycommands':
        this.commands.set(this.commandsKey(p), json(p.commands) ?? []);
        return true;
      case 'getmycommands':
        return this.commands.get(this.commandsKey(p)) ?? [];
      default:
        throw new ApiError(404, 'Not Found: method not found');
    }
  }

  private getFile(p: Record<string, unknown>): unknown {
    const file = this.files.get(str(p.file_id) ?? '');
    if (!file) throw badRequest('invalid file_id');
    if (file.data.length > GET_FILE_LIMIT) throw badRequest('file is too big');
    return { file_id: str(p.file_id), file_unique_id: file.uniqueId, file_size: file.data.length, file_path: file.path };
  }

  /** GET /file/bot<token>/<file_path>: the bytes of a file getFile named, after `fileLatencyMs`. */
  private async serveFile(url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    const path = decodeURIComponent(match?.[2] ?? '');
    const file = [...this.files.values()].find((f) => f.path === path);
    this.requests.push({ method: 'GET /file', params: { path }, at: Date.now(), status: file ? 200 : 404 });
    if (req.method !== 'GET' || !match || decodeURIComponent(match[1]!) !== this.token || !file) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error_code: 404, description: 'Not Found' }));
      return;
    }
    if (this.fileLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.fileLatencyMs));
    this.downloads.push(path);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.data.length }).end(file.data);
  }

  /** sendPhoto / sendDocument with the file uploaded as multipart (a file_id or URL is not taken here). */
  private sendFile(kind: 'photo' | 'document', p: Record<string, unknown>, parts: UploadedPart[]): FakeMessage {
    const chat = this.chatOf(p.chat_id);
    const part = parts.find((u) => u.field === kind) ?? parts.find((u) => `attach://${u.field}` === p[kind]);
    if (!part) throw badRequest(`there is no ${kind} in the request`);
    if (part.data.length === 0) throw badRequest('file must be non-empty');
    if (part.data.length > UPLOAD_LIMIT) throw new ApiError(413, 'Request Entity Too Large');
    const caption = str(p.caption);
    if (caption !== undefined && caption.length > 1024) throw badRequest('message caption is too long');
    this.checkGroupLimit(chat);
    const ref = this.addFile(part.data, kind === 'photo' ? 'photos' : 'documents');
    const msg: FakeMessage = { message_id: this.nextMessageId(chat.id), date: now(), chat, from: this.bot };
    if (kind === 'photo') msg.photo = [{ ...ref, width: 1280, height: 960 }];
    else msg.document = { ...ref, file_name: part.name };
    if (caption) msg.caption = caption;
    const replyId = num(json<{ message_id?: unknown }>(p.reply_parameters)?.message_id);
    const replyTo = replyId === undefined ? undefined : this.messages.get(key(chat.id, replyId));
    if (replyTo) msg.reply_to_message = withoutReply(replyTo);
    this.uploads.push({ method: kind === 'photo' ? 'sendPhoto' : 'sendDocument', chatId: chat.id, field: part.field, name: part.name, size: part.data.length, data: part.data, ...(caption ? { caption } : {}), at: Date.now() });
    this.remember(msg);
    this.sent.push(msg);
    return msg;
  }

  private getUpdates(p: Record<string, unknown>, res: ServerResponse): FakeUpdate[] | Promise<FakeUpdate[]> {
    const offset = num(p.offset) ?? 0;
    const limit = Math.min(100, Math.max(1, num(p.limit) ?? 100));
    const timeout = num(p.timeout) ?? 0;
    const allowed = json<string[]>(p.allowed_updates);
    if (Array.isArray(allowed)) this.allowedUpdates = allowed; // omitted: Telegram keeps the last setting
    if (offset > 0) {
      this.queue = this.queue.filter((u) => u.update_id >= offset);
      this.confirmedOffset = Math.max(this.confirmedOffset, offset);
    } else if (offset < 0) this.queue = this.queue.slice(offset);
    // Telegram answers a held request with 409 when another getUpdates arrives.
    for (const poll of this.polls) poll.finish(new ApiError(409, CONFLICT));
    const ready = this.deliverable(offset, limit);
    if (ready.length > 0 || timeout <= 0) return ready;
    return new Promise((resolve, reject) => {
      const finish = (result: FakeUpdate[] | ApiError): void => {
        clearTimeout(timer);
        this.polls.delete(poll);
        if (result instanceof ApiError) reject(result);
        else resolve(result);
      };
      const poll: Poll = { offset, limit, finish };
      const timer = setTimeout(() => poll.finish([]), timeout * 1000);
      res.on('close', () => poll.finish([])); // the client gave up (abort, bot.stop)
      this.polls.add(poll);
    });
  }

  private deliverable(offset: number, limit: number): FakeUpdate[] {
    return this.queue.filter((u) => u.update_id >= offset && this.wanted(u)).slice(0, limit);
  }

  private wanted(u: FakeUpdate): boolean {
    const kind = Object.keys(u).find((k) => k !== 'update_id') ?? '';
    return this.allowedUpdates.length > 0 ? this.allowedUpdates.includes(kind) : !OPT_IN_UPDATES.includes(kind);
  }

  private sendMessage(p: Record<string, unknown>): FakeMessage {
    const chat = this.chatOf(p.chat_id);
    const { text, entities } = this.parseText(p);
    if (text.length > MAX_TEXT) throw badRequest('message is too long');
    const replyParams = json<{ message_id?: unknown; allow_sending_without_reply?: unknown }>(p.reply_parameters);
    const replyId = num(replyParams?.message_id) ?? num(p.reply_to_message_id);
    const replyTo = replyId === undefined ? undefined : this.messages.get(key(chat.id, replyId));
    const allowWithout = json<boolean>(replyParams?.allow_sending_without_reply ?? p.allow_sending_without_reply) === true;
    if (replyId !== undefined && !replyTo && !allowWithout) throw badRequest('message to be replied not found');
    this.checkGroupLimit(chat);
    const msg: FakeMessage = { message_id: this.nextMessageId(chat.id), date: now(), chat, from: this.bot, text };
    if (entities.length > 0) msg.entities = entities;
    if (replyTo) msg.reply_to_message = withoutReply(replyTo);
    const threadId = num(p.message_thread_id) ?? replyTo?.message_thread_id;
    if (threadId !== undefined) {
      msg.message_thread_id = threadId;
      if (chat.is_forum) msg.is_topic_message = true;
    }
    this.remember(msg);
    this.sent.push(msg);
    return msg;
  }

  private editMessageText(p: Record<string, unknown>): FakeMessage | true {
    if (p.inline_message_id !== undefined) return true;
    const chat = this.chatOf(p.chat_id);
    const messageId = num(p.message_id) ?? 0;
    const msg = this.messages.get(key(chat.id, messageId));
    if (!msg) throw badRequest('message to edit not found');
    if (msg.from.id !== this.bot.id) throw badRequest("message can't be edited");
    const { text, entities } = this.parseText(p);
    if (text.length > MAX_TEXT) throw badRequest('MESSAGE_TOO_LONG');
    if (text === msg.text && JSON.stringify(entities) === JSON.stringify(msg.entities ?? [])) {
      throw badRequest(NOT_MODIFIED);
    }
    // The stored message (also in botMessages) shows the latest text; `edits` keeps the history.
    msg.text = text;
    if (entities.length > 0) msg.entities = entities;
    else delete msg.entities;
    msg.edit_date = now();
    this.edits.push({ chatId: chat.id, messageId, text, at: Date.now() });
    return msg;
  }

  private parseText(p: Record<string, unknown>): { text: string; entities: TelegramEntity[] } {
    try {
      return parseMessageText(str(p.text) ?? '', str(p.parse_mode), json<TelegramEntity[]>(p.entities));
    } catch (err) {
      throw err instanceof BadText ? badRequest(err.message) : err;
    }
  }

  private chatOf(chatId: unknown): FakeChat {
    const id = num(chatId);
    if (id === undefined) throw badRequest('chat_id is empty');
    // Strict on purpose: a bot can only reach chats it has heard from (catches from.id vs chat.id mix-ups).
    const chat = this.chats.get(id);
    if (!chat) throw badRequest('chat not found');
    return chat;
  }

  private checkChatLimit(chatId: number | undefined): void {
    if (chatId === undefined) return;
    const t = Date.now();
    const blockedUntil = this.chatBlockedUntil.get(chatId) ?? 0;
    if (blockedUntil > t) throw tooMany(Math.ceil((blockedUntil - t) / 1000));
    const armed = this.chatLimitsArmed.get(chatId);
    if (armed === undefined) return;
    this.chatLimitsArmed.delete(chatId);
    this.chatBlockedUntil.set(chatId, t + armed * 1000);
    throw tooMany(armed);
  }

  private checkGroupLimit(chat: FakeChat): void {
    if (this.groupLimit === undefined || chat.type === 'private') return;
    const t = Date.now();
    const recent = (this.groupSends.get(chat.id) ?? []).filter((s) => t - s < this.groupWindowMs);
    this.groupSends.set(chat.id, recent);
    if (recent.length >= this.groupLimit) throw tooMany(Math.max(1, Math.ceil(((recent[0] ?? t) + this.groupWindowMs - t) / 1000)));
    recent.push(t);
  }

  private commandsKey(p: Record<string, unknown>): string {
    return `${json<{ type?: string }>(p.scope)?.type ?? 'default'}:${str(p.language_code) ?? ''}`;
  }

  private remember(msg: FakeMessage): void {
    this.chats.set(msg.chat.id, msg.chat);
    this.messages.set(key(msg.chat.id, msg.message_id), msg);
    this.lastMessageId.set(msg.chat.id, Math.max(this.lastMessageId.get(msg.chat.id) ?? 0, msg.message_id));
  }

  private nextMessageId(chatId: number): number {
    return (this.lastMessageId.get(chatId) ?? 0) + 1;
  }
}
