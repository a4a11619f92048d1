import { autoRetry } from '@grammyjs/auto-retry';
import { Bot, GrammyError, HttpError, InputFile, type Transformer } from 'grammy';
import type { Message } from 'grammy/types';
import { COMMANDS } from '../../agent/commands.ts';
import type { EventSource, InboundFile } from '../../core/events.ts';
import { ChannelError } from '../../core/errors.ts';
import type { Logger } from '../../log.ts';
import type { RouteHost } from '../../server/http-server.ts';
import { TEXT_ONLY_TEXT } from '../access.ts';
import type { AccessGate } from '../access-gate.ts';
import type { FileLocation } from '../../media/download.ts';
import type { AccountRef, TelegramSettings } from '../accounts.ts';
import type { Channel, ChannelStatus, OutgoingChunk, OutgoingFile, Publish } from '../channel.ts';
import type { PlatformObserver } from '../platform-observer.ts';
import { Receipts } from '../receipts.ts';
import { splitMessage } from '../split.ts';
import { AlbumBatch, albumMessage } from './albums.ts';
import { locateTelegramFile, sendTelegramFile, TELEGRAM_UPLOAD_LIMIT, type TelegramFileApi } from './files.ts';
import { markdownToTelegramHtml } from './format.ts';
import { decideInbound, filesOf, type BotIdentity } from './inbound.ts';
import { describeError, isNotModifiedError, isParseEntitiesError, retryAfterOf, toChannelError } from './errors.ts';
import { SendLimiter, TELEGRAM_LIMITS } from './send-limiter.ts';
import { TelegramWebhook, type WebhookApi } from './webhook.ts';

export interface TelegramChannelOptions {
  account: AccountRef;
  observer: PlatformObserver;
  /** Where the webhook route is served, in `mode: webhook`. */
  webhooks?: RouteHost;
}

/** https://core.telegram.org/bots/api#sendmessage: 4096 characters after entity parsing; the margin absorbs rendering differences. */
const MAX_CHUNK = 4096 - 96;
/** Long enough for a 30 s getUpdates long poll, short enough that a hung send is retried. */
const CLIENT_TIMEOUT_S = 60;
const POLL_TIMEOUT_S = 30;
const STOP_CONFIRM_MS = 3000;
/** A long poll answers within POLL_TIMEOUT_S; no answer for longer than this and the connection is not what it says. */
const POLL_SILENT_MS = (POLL_TIMEOUT_S + 15) * 1000;
/** Best-effort calls: dropped rather than queued behind replies, never retried (the next pulse renews typing anyway). */
const BEST_EFFORT = new Set(['sendChatAction']);
/** Receipts: sent beside the chat's queue, never retried, never waited for (SendLimiter.receipt). */
const RECEIPTS = new Set(['setMessageReaction']);
/** Telegram through grammY: long polling or a webhook in, sendMessage out. The only file that imports grammy. */
export class TelegramChannel implements Channel {
  readonly name: string;
  readonly typingIntervalMs = 4000;
  onCrash?: (error: unknown) => void;
  private bot?: Bot;
  private idleBot?: Bot;
  private me?: BotIdentity;
  private polling?: Promise<void>;
  /** The update being handled right now: pause waits for it before confirming the offset. */
  private handling: Promise<void> = Promise.resolve();
  private state: ChannelStatus['state'] = 'stopped';
  private lastError?: string;
  private outageSince?: number;
  private lastPollAnswer = 0;
  private readonly albums = new AlbumBatch();
  private webhook?: TelegramWebhook;
  private readonly receipts: Receipts;
  private readonly log: Logger;

  constructor(
    private readonly config: () => TelegramSettings,
    private readonly publish: Publish,
    log: Logger,
    private readonly access: AccessGate,
    private readonly options: TelegramChannelOptions,
  ) {
    this.name = options.account.channel;
    this.log = log.child({ mod: 'telegram', ...(options.account.account === 'default' ? {} : { account: options.account.account }) });
    this.receipts = new Receipts(config, { react: (target, emoji) => this.react(target, emoji), unreact: (target) => this.react(target, undefined) }, this.log);
  }

  async start(): Promise<void> {
    const { bot_token: token, api_root: apiRoot } = this.config();
    if (!token) throw new ChannelError(`${this.options.account.configKey}.bot_token is missing: set it in config.user.yaml`, false);
    this.state = 'connecting';
    const bot = new Bot(token, { client: { apiRoot: apiRoot.replace(/\/+$/, ''), timeoutSeconds: CLIENT_TIMEOUT_S } });
    this.installTransformers(bot);
    const me = await bot.api.getMe().catch((err: unknown) => {
      this.state = 'failed';
      this.lastError = describeError(err);
      throw startError(err, apiRoot);
    });
    bot.botInfo = me;
    this.me = { id: me.id, username: me.username };
    this.bot = bot;
    await bot.api.setMyCommands(COMMANDS.map((c) => ({ command: c.name, description: c.description }))).catch((err: unknown) => {
      this.log.warn({ reason: describeError(err) }, 'could not set the commands menu; continuing without it');
    });
    bot.use((ctx) => {
      if (!ctx.message) return;
      this.handling = this.onMessage(ctx.message);
      return this.handling;
    });
    // A publish that failed must not be confirmed: rethrowing ends the polling loop before the next
    // getUpdates, the supervisor restarts the channel, and Telegram delivers the update again.
    bot.catch((err) => {
      throw err.error;
    });
    if (this.config().mode === 'webhook') return this.startWebhook(bot, apiRoot);
    let started = false;
    await new Promise<void>((resolve, reject) => {
      // bot.start, not @grammyjs/runner: it fetches the next batch, confirming this one's offset,
      // only after our middleware returned, and the middleware awaits the journal write. So an
      // update is confirmed only once its InboundEvent is durable. The runner confirms concurrently.
      this.polling = bot
        .start({
          allowed_updates: ['message'],
          timeout: POLL_TIMEOUT_S,
          onStart: () => {
            started = true;
            this.state = 'connected';
            this.lastPollAnswer = Date.now();
            this.log.info({ bot: me.username }, 'telegram polling started');
            resolve();
          },
        })
        .catch((err: unknown) => {
          if (started) this.pollingFailed(bot, err, apiRoot);
          else reject(startError(err, apiRoot));
        });
    });
  }

  async pause(): Promise<void> {
    if (this.webhook) {
      await this.webhook.pause();
      this.state = 'stopped';
      return;
    }
    const bot = this.bot;
    if (!bot?.isRunning()) return;
    // bot.stop confirms up to the update being handled: let its journal write finish first
    await this.handling.catch(() => undefined);
    const confirmed = bot.stop().catch((err: unknown) => this.log.debug({ reason: describeError(err) }, 'could not confirm the last updates; they will come again and be deduplicated'));
    // an unreachable API must not hold up the shutdown: unconfirmed updates are deduplicated next time
    await Promise.race([confirmed, new Promise((resolve) => setTimeout(resolve, STOP_CONFIRM_MS).unref())]);
    await this.polling;
    this.state = 'stopped';
  }

  async stop(): Promise<void> {
    await this.pause();
    // the webhook stays set at Telegram: updates sent while the daemon is down wait there for the next start
    await this.webhook?.close();
    this.webhook = undefined;
    this.state = 'stopped';
  }

  render(content: string, form?: 'safe'): string[] {
    return splitMessage(content, form === 'safe' ? MAX_CHUNK / 2 : MAX_CHUNK);
  }

  async send(chunk: OutgoingChunk): Promise<string> {
    const id = await this.post(chunk);
    // the reply shows: the receipt has done its job
    if (chunk.index === 0) this.receipts.replied(chunk.target);
    return id;
  }

  private async post(chunk: OutgoingChunk): Promise<string> {
    const { target, text, index } = chunk;
    const api = this.api();
    if (chunk.safe) {
      const sent = await api.sendMessage(target.chatId, text, threadOf(target)).catch((err: unknown) => {
        throw toChannelError(err, 'sendMessage');
      });
      return String(sent.message_id);
    }
    // a named key first: a literal that starts with a spread and adds keys gets a hidden class per object on Node 20 (see createEvent)
    const options = {
      parse_mode: 'HTML' as const,
      ...threadOf(target),
      ...(index === 0 ? quoteOf(target) : {}),
    };
    try {
      const sent = await api.sendMessage(target.chatId, markdownToTelegramHtml(text), options);
      return String(sent.message_id);
    } catch (err) {
      if (!isParseEntitiesError(err)) throw toChannelError(err, 'sendMessage');
      this.log.warn({ chatId: target.chatId, eventId: chunk.eventId, chunk: index, reason: describeError(err) }, 'Telegram rejected the HTML; sending the chunk as plain text');
      const { parse_mode: _html, ...plain } = options;
      const sent = await api.sendMessage(target.chatId, text, plain).catch((e: unknown) => {
        throw toChannelError(e, 'sendMessage');
      });
      return String(sent.message_id);
    }
  }

  /** Through the same per-chat limiter as sends; an edit to the text it already has is done, not an error. */
  async edit(target: EventSource, messageId: string, text: string): Promise<void> {
    const api = this.api();
    const edit = (body: string, html: boolean) =>
      api.editMessageText(target.chatId, Number(messageId), body, html ? { parse_mode: 'HTML' } : {}).then(
        () => undefined,
        (err: unknown) => {
          if (!isNotModifiedError(err)) throw err;
        },
      );
    try {
      await edit(markdownToTelegramHtml(text), true);
    } catch (err) {
      if (!isParseEntitiesError(err)) throw toChannelError(err, 'editMessageText');
      await edit(text, false).catch((e: unknown) => {
        throw toChannelError(e, 'editMessageText');
      });
    }
  }

  /** Edits count against the chat's message limits: spread evenly, they never queue behind each other. */
  editIntervalMs(target: EventSource): number {
    const { limit, intervalMs } = Number(target.chatId) < 0 ? TELEGRAM_LIMITS.group : TELEGRAM_LIMITS.privateChat;
    return Math.ceil(intervalMs / limit);
  }

  async remove(target: EventSource, messageId: string): Promise<void> {
    await this.api()
      .deleteMessage(target.chatId, Number(messageId))
      .catch((err: unknown) => {
        throw toChannelError(err, 'deleteMessage');
      });
  }

  async locateFile(file: InboundFile): Promise<FileLocation> {
    const { api_root: apiRoot, bot_token: token } = this.config();
    return locateTelegramFile(this.fileApi() as unknown as TelegramFileApi, apiRoot, token ?? '', file);
  }

  /** Through the same per-chat queue and 429 handling as replies (the transformers see every call with a chat_id). */
  async sendFile(file: OutgoingFile): Promise<string> {
    const upload = (path: string, name: string) => new InputFile(path, name) as never;
    return sendTelegramFile(this.api() as unknown as TelegramFileApi, file, upload, { ...threadOf(file.target), ...quoteOf(file.target) });
  }

  maxFileBytes(): number {
    return TELEGRAM_UPLOAD_LIMIT;
  }

  async sendTyping(target: EventSource): Promise<void> {
    await this.api()
      .sendChatAction(target.chatId, 'typing', threadOf(target))
      .catch((err: unknown) => {
        throw toChannelError(err, 'sendChatAction');
      });
  }

  status(): ChannelStatus {
    const silentMs = Date.now() - this.lastPollAnswer;
    if (this.state === 'connected' && this.webhook?.problem) return { state: 'reconnecting', lastError: this.webhook.problem };
    if (this.state === 'connected' && !this.webhook && silentMs > POLL_SILENT_MS) {
      return { state: 'reconnecting', lastError: `getUpdates has not answered for ${Math.round(silentMs / 1000)} s` };
    }
    return { state: this.state, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  /** getFile needs no poller: an agent process (server.role agent) locates files through a channel it never starts. */
  private fileApi(): Bot['api'] {
    if (this.bot) return this.bot.api;
    const { bot_token: token, api_root: apiRoot } = this.config();
    this.idleBot ??= new Bot(token ?? '', { client: { apiRoot: apiRoot.replace(/\/+$/, ''), timeoutSeconds: CLIENT_TIMEOUT_S } });
    return this.idleBot.api;
  }

  private api(): Bot['api'] {
    if (!this.bot) throw new ChannelError('the Telegram channel is not started', true);
    return this.bot.api;
  }

  private async onMessage(message: Message): Promise<void> {
    const album = this.albums.take(message);
    if (album.length === 0) return this.log.debug({ chatId: message.chat.id, messageId: message.message_id }, 'part of an album; handled with its last message');
    const decision = decideInbound(albumMessage(album), this.me!, (userId, isPrivate) => this.access.allows(userId, isPrivate), this.name, album.flatMap(filesOf));
    const where = { chatId: message.chat.id, messageId: message.message_id };
    switch (decision.kind) {
      case 'ignore':
        this.log.debug({ reason: decision.reason, ...where }, 'message ignored');
        return;
      case 'stranger': {
        this.log.info({ userId: decision.source.userId, ...where }, `message from a user not in ${this.options.account.configKey}.allowed_user_ids; not answered`);
        const answer = decision.refuse ? this.access.turnAway(decision.source, message.from?.username) : undefined;
        if (answer) this.sendDirect(decision.source, answer);
        return;
      }
      case 'text-only':
        this.sendDirect(decision.source, TEXT_ONLY_TEXT);
        return;
      case 'publish': {
        const { event } = decision;
        if (!(await this.publish(event))) return this.log.info({ sessionId: event.sessionId, eventId: event.id }, 'message seen before; not answered again');
        this.log.debug({ sessionId: event.sessionId, eventId: event.id }, 'message received');
        this.receipts.seen(event.source);
      }
    }
  }

  /** A fixed answer that needs no LLM; not journaled, and not awaited so polling goes on. */
  private sendDirect(source: EventSource, text: string): void {
    void this.send({ target: source, text, index: 0, eventId: `${this.name}:${source.chatId}:${source.messageId}:direct` }).catch((err: unknown) =>
      this.log.warn({ chatId: source.chatId, reason: describeError(err) }, 'could not send a fixed answer'),
    );
  }

  /**
   * mode: webhook. The route is served before setWebhook asks Telegram to use it; the webhook is
   * left set at stop, so Telegram keeps what comes meanwhile. Polling mode deletes it (bot.start).
   */
  private async startWebhook(bot: Bot, apiRoot: string): Promise<void> {
    const { webhook_url: url, webhook_secret: secret } = this.config();
    const host = this.options.webhooks;
    if (!url || !secret || !host) throw new ChannelError(`${this.options.account.configKey}.mode is webhook: webhook_url, webhook_secret and server.http_port (or webhook_port) are needed`, false, { fatal: true });
    const api: WebhookApi = {
      // the middleware returns onMessage's promise: handleUpdate resolves once the message is journaled
      handle: (update) => bot.handleUpdate(update as Parameters<Bot['handleUpdate']>[0]),
      setWebhook: (to, token) => bot.api.setWebhook(to, { secret_token: token, allowed_updates: ['message'] }),
      info: () => bot.api.getWebhookInfo(),
    };
    this.webhook = await TelegramWebhook.open(host, url, () => this.config().webhook_secret ?? secret, api, this.log).catch((err: unknown) => {
      this.state = 'failed';
      this.lastError = describeError(err);
      throw startError(err, apiRoot);
    });
    this.state = 'connected';
    this.log.info({ bot: this.me?.username, path: new URL(url).pathname }, 'telegram webhook set: updates come over HTTP');
  }

  /** Sets the bot's reaction on a message, or removes it (`emoji` undefined); a receipt, see Receipts. */
  private async react(target: EventSource, emoji: string | undefined): Promise<void> {
    await this.api()
      .setMessageReaction(target.chatId, Number(target.messageId), emoji ? [{ type: 'emoji', emoji: emoji as never }] : [])
      .catch((err: unknown) => {
        throw toChannelError(err, 'setMessageReaction');
      });
  }

  private installTransformers(bot: Bot): void {
    const limiter = new SendLimiter(TELEGRAM_LIMITS, {
      retryAfterOf,
      onPause: (chatId, retryAfterS) => this.log.warn({ chatId, retryAfterS }, 'Telegram asked to slow down (429): pausing sends to this chat only'),
    });
    // Every call aimed at a chat (messages, notices, edits, typing) goes through that chat's queue.
    const throttle: Transformer = (prev, method, payload, signal) => {
      const chatId = (payload as { chat_id?: unknown } | undefined)?.chat_id;
      if (typeof chatId !== 'number' && typeof chatId !== 'string') return prev(method, payload, signal);
      if (RECEIPTS.has(method)) return limiter.receipt(chatId, () => prev(method, payload, signal)) ?? Promise.resolve({ ok: true as const, result: true as never });
      if (!BEST_EFFORT.has(method)) return limiter.schedule(chatId, () => prev(method, payload, signal));
      // a dropped typing action is as good as a sent one: the next pulse renews it
      return limiter.tryNow(chatId, () => prev(method, payload, signal)) ?? Promise.resolve({ ok: true as const, result: true as never });
    };
    // 5xx only: retry_after is the limiter's, which pauses the chat instead of sleeping in one call
    // (maxDelaySeconds 0 hands every 429 back); it runs inside the chat's turn, so order holds.
    const retry = autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 0, rethrowHttpErrors: true });
    const unless =
      (skip: (method: string) => boolean, inner: Transformer): Transformer =>
      (prev, method, payload, signal) =>
        skip(method) ? prev(method, payload, signal) : inner(prev, method, payload, signal);
    // each attempt as it comes back from the wire: 429s, and failures that get another try
    const observe: Transformer = async (prev, method, payload, signal) => {
      const { observer } = this.options;
      try {
        const res = await prev(method, payload, signal);
        const code = res.ok ? 200 : res.error_code;
        if (code === 429) observer.rateLimited('telegram');
        if ((code === 429 || code >= 500) && !BEST_EFFORT.has(method) && !RECEIPTS.has(method)) observer.retried('telegram');
        return res;
      } catch (err) {
        if (!signal?.aborted) observer.retried('telegram');
        throw err;
      }
    };
    // Installed inside out: the last one sees each call first.
    bot.api.config.use(
      observe,
      // getUpdates has grammY's own retry loop, which must see each failure so we can log it
      unless((m) => BEST_EFFORT.has(m) || RECEIPTS.has(m) || m === 'getUpdates', retry),
      throttle,
      (prev, method, payload, signal) => (method === 'getUpdates' ? this.watchPoll(() => prev(method, payload, signal), signal) : prev(method, payload, signal)),
      async (prev, method, payload, signal) => {
        const res = await prev(method, payload, signal);
        if (method === 'getUpdates' && res.ok) this.albums.noteBatch(res.result as Array<{ message?: Message }>);
        return res;
      },
    );
  }

  /** Tracks the connection through getUpdates: a failure is logged once per outage, recovery too. */
  private async watchPoll<T extends { ok: boolean }>(call: () => Promise<T>, signal: { aborted: boolean } | undefined): Promise<T> {
    let failure: unknown;
    try {
      const res = await call();
      this.lastPollAnswer = Date.now();
      if (res.ok) this.connected();
      else failure = res;
      return res;
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      if (failure !== undefined && !signal?.aborted) this.disconnected(failure);
    }
  }

  private connected(): void {
    if (this.outageSince === undefined) return;
    this.log.info({ downForMs: Date.now() - this.outageSince }, 'telegram polling works again');
    this.outageSince = undefined;
    this.state = 'connected';
  }

  private disconnected(failure: unknown): void {
    this.lastError = describeError(failure);
    this.state = 'reconnecting';
    if (this.outageSince !== undefined) return this.log.debug({ reason: this.lastError }, 'telegram polling still failing');
    this.outageSince = Date.now();
    const conflict = (failure as { error_code?: number }).error_code === 409;
    this.log.warn(
      { reason: this.lastError },
      conflict
        ? 'another process is polling Telegram with this bot token (409 Conflict): stop the other mybot or remove its webhook; retrying'
        : 'cannot reach the Telegram Bot API; retrying until it answers',
    );
  }

  /** bot.start gave up (409, or a publish that failed): the supervisor restarts the channel; a revoked token (401) stops the daemon. */
  private pollingFailed(bot: Bot, err: unknown, apiRoot: string): void {
    if (this.bot !== bot || this.state === 'stopped') return;
    this.lastError = describeError(err);
    const revoked = err instanceof GrammyError && err.error_code === 401;
    this.state = revoked ? 'failed' : 'reconnecting';
    if (!revoked) this.log.error({ reason: this.lastError }, 'telegram polling stopped; restarting the channel');
    this.onCrash?.(revoked ? startError(err, apiRoot) : err instanceof GrammyError || err instanceof HttpError ? toChannelError(err, 'getUpdates') : err);
  }
}

function threadOf(target: EventSource): { message_thread_id?: number } {
  return target.threadId ? { message_thread_id: Number(target.threadId) } : {};
}

/** In groups a reply quotes the user's message (if it still exists). */
function quoteOf(target: EventSource): { reply_parameters?: { message_id: number; allow_sending_without_reply: true } } {
  return target.chatType === 'group' && target.messageId ? { reply_parameters: { message_id: Number(target.messageId), allow_sending_without_reply: true } } : {};
}

/** getMe (or polling) failed: say which setting to check. A rejected token is fatal: no restart fixes it. */
function startError(err: unknown, apiRoot: string): ChannelError {
  if (err instanceof GrammyError && (err.error_code === 401 || err.error_code === 404)) {
    return new ChannelError(
      `Telegram rejected the bot token (${err.error_code} ${err.description}): check channels.telegram.bot_token in config.user.yaml or TELEGRAM_BOT_TOKEN (from @BotFather), and channels.telegram.api_root (${apiRoot})`,
      false,
      { fatal: true },
    );
  }
  if (err instanceof HttpError) return new ChannelError(`cannot reach the Telegram Bot API at ${apiRoot} (${describeError(err)}): check the network and channels.telegram.api_root`, true);
  return toChannelError(err, 'getMe');
}
