import { Client, Events, GatewayIntentBits, Partials, Routes, Status, type Message } from 'discord.js';
import { createEvent, type EventSource, type InboundEvent, type InboundFile } from '../../core/events.ts';
import { ChannelError } from '../../core/errors.ts';
import type { Logger } from '../../log.ts';
import { TEXT_ONLY_TEXT } from '../access.ts';
import type { AccessGate } from '../access-gate.ts';
import type { FileLocation } from '../../media/download.ts';
import type { AccountRef, DiscordSettings } from '../accounts.ts';
import type { Channel, ChannelStatus, OutgoingChunk, OutgoingFile, Publish } from '../channel.ts';
import type { PlatformObserver } from '../platform-observer.ts';
import { Receipts } from '../receipts.ts';
import { splitMessage } from '../split.ts';
import { CatchUp } from './catch-up.ts';
import { CursorStore } from './cursors.ts';
import { closeError, startError, toChannelError } from './errors.ts';
import { discordFileLocation, discordUploadLimit, uploadData } from './files.ts';
import { neutralizeMentions } from './format.ts';
import { GatewayHealth } from './gateway-health.ts';
import { shardOfDebugLine, shardOfGuild, shardOptions } from './shards.ts';
import { attachmentFile, decideInbound, discordEventId, discordSessionId, type DiscordInbound, type InboundDecision } from './inbound.ts';
import { createMessageBody, DISCORD_MAX_CONTENT, editMessageBody, messageNonce } from './outbound.ts';

/** discord.js reports an op 9 only as a debug line: `Invalid session; will attempt to resume: false`. */
const INVALID_SESSION = /Invalid session; will attempt to resume: (true|false)/;
/** Other discord.js debug lines worth a log: why a connection attempt failed. */
const GATEWAY_NOTICE = /Session timed out|unknown error occurred|Failed to connect/;
/** Receipt calls: a 429 on them is handed back at once instead of waited out (see Receipts). */
const REACTIONS_ROUTE = /\/reactions\//;

export interface DiscordChannelOptions {
  account: AccountRef;
  observer: PlatformObserver;
}

/**
 * Discord through discord.js: gateway messages → InboundEvents, replies → `POST /channels/{id}/messages`.
 * discord.js owns rate limits (its REST queue honours 429 buckets and retries 5xx) and gateway
 * reconnect/resume; this class decides what is answered and turns failures into ChannelErrors.
 */
export class DiscordChannel implements Channel {
  readonly name: string;
  /** A typing indicator lasts ~10 s. */
  readonly typingIntervalMs = 8000;
  onCrash?: (error: unknown) => void;

  private client: Client | undefined;
  private state: ChannelStatus['state'] = 'stopped';
  private lastError: string | undefined;
  private paused = false;
  private running = false;
  /** Set when the gateway closed for good during `start`, so `start` rejects with the reason. */
  private failStart: ((error: ChannelError) => void) | undefined;
  private readonly health = new GatewayHealth();
  private cursors: CursorStore | undefined;
  private catchUp: CatchUp<Message> | undefined;
  private readonly receipts: Receipts;
  private readonly log: Logger;

  constructor(
    private readonly settings: () => DiscordSettings,
    private readonly publish: Publish,
    log: Logger,
    private readonly access: AccessGate,
    private readonly cursorFile: string,
    private readonly options: DiscordChannelOptions,
  ) {
    this.name = options.account.channel;
    this.log = log.child({ mod: 'discord', ...(options.account.account === 'default' ? {} : { account: options.account.account }) });
    this.receipts = new Receipts(settings, { react: (target, emoji) => this.react(target, emoji, 'put'), unreact: (target, emoji) => this.react(target, emoji, 'delete') }, this.log);
  }

  async start(): Promise<void> {
    const { bot_token: token, api_base: api } = this.settings();
    if (!token) throw new ChannelError(`${this.options.account.configKey}.bot_token is missing: set it in config.user.yaml`, false, { fatal: true });
    this.state = 'connecting';
    this.paused = false;
    const cursors = (this.cursors = new CursorStore(this.cursorFile, this.log));
    const client = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent, GatewayIntentBits.DirectMessages],
      // DMs arrive without a CHANNEL_CREATE first: without this partial discord.js drops them
      partials: [Partials.Channel],
      // a receipt's 429 is handed back, not waited out in its bucket (a late "seen" says nothing)
      rest: { api, rejectOnRateLimit: (info) => REACTIONS_ROUTE.test(info.route) },
      failIfNotExists: false,
      // internal sharding: every shard a connection of this process (channels.discord.shards)
      ...shardOptions(this.settings().shards),
    });
    this.client = client;
    this.catchUp = new CatchUp<Message>({
      cursors,
      limits: () => ({ max: this.settings().catch_up_max, maxAgeS: this.settings().catch_up_max_age_s }),
      fetchAfter: (channelId, after, limit) => fetchAfter(client, channelId, after, limit),
      isAddressed: (message) => this.decide(client, message).action !== 'ignore',
      handle: (message) => this.handle(client, message),
      paused: () => this.paused,
      describeFailure: (channelId, error) => toChannelError(error, `read the messages missed in channel ${channelId}`),
      log: this.log,
    });
    this.listen(client);
    try {
      const ready = new Promise<void>((resolve, reject) => {
        client.once(Events.ClientReady, () => resolve());
        this.failStart = reject;
      });
      ready.catch(() => undefined); // login() may reject first; the reason is then in its error
      await client.login(token);
      await ready;
    } catch (err) {
      this.failStart = undefined;
      this.client = undefined;
      await client.destroy().catch(() => undefined);
      const error = startError(err, api);
      this.state = 'failed';
      this.lastError = error.message;
      throw error;
    }
    this.failStart = undefined;
    this.running = true;
    this.state = 'connected';
    for (const shard of client.ws.shards.values()) {
      shard.on('close', (event) => this.log.warn({ shardId: shard.id, code: event.code }, 'gateway connection closed'));
    }
    this.log.info({ botId: client.user?.id, username: client.user?.username, shards: client.ws.shards.size }, 'connected to Discord');
  }

  /** Stops taking messages; REST stays up so replies in flight still go out. */
  async pause(): Promise<void> {
    this.paused = true;
  }

  async stop(): Promise<void> {
    this.paused = true;
    this.running = false;
    const client = this.client;
    this.client = undefined;
    if (this.state !== 'failed') this.state = 'stopped';
    await client?.destroy();
    this.cursors?.flush();
  }

  render(content: string, form?: 'safe'): string[] {
    // neutralized before splitting, so the zero-width spaces count against the limit
    return splitMessage(neutralizeMentions(content), form === 'safe' ? DISCORD_MAX_CONTENT / 2 : DISCORD_MAX_CONTENT);
  }

  async send(chunk: OutgoingChunk): Promise<string> {
    const { safe } = chunk;
    const nonce = messageNonce(chunk.eventId, safe ? `${chunk.index}.${safe.piece}` : chunk.index);
    const body = createMessageBody(chunk.text, chunk.target, nonce, chunk.index === 0 && !safe);
    const sent = await this.rest('send a message', chunk.target.chatId, (client) => client.rest.post(Routes.channelMessages(chunk.target.chatId), { body }));
    if (chunk.index === 0) this.receipts.replied(chunk.target);
    return (sent as { id: string }).id;
  }

  async edit(target: EventSource, messageId: string, text: string): Promise<void> {
    const body = editMessageBody(text);
    await this.rest('edit a message', target.chatId, (client) => client.rest.patch(Routes.channelMessage(target.chatId, messageId), { body }));
  }

  async remove(target: EventSource, messageId: string): Promise<void> {
    await this.rest('delete a message', target.chatId, (client) => client.rest.delete(Routes.channelMessage(target.chatId, messageId)));
  }

  async locateFile(file: InboundFile): Promise<FileLocation> {
    return discordFileLocation(file, this.settings().api_base);
  }

  /** One message with the file attached and the caption as content; its nonce makes a repeat collapse into it. */
  async sendFile(file: OutgoingFile): Promise<string> {
    const data = await uploadData(file, this.maxFileBytes(file.target));
    const body = createMessageBody(file.caption, file.target, messageNonce(file.eventId, 'file'), true);
    const sent = await this.rest('send a file', file.target.chatId, (client) => client.rest.post(Routes.channelMessages(file.target.chatId), { body, files: [{ name: file.name, data }] }));
    return (sent as { id: string }).id;
  }

  maxFileBytes(target: EventSource): number {
    const channel = this.client?.channels.cache.get(target.chatId);
    return discordUploadLimit(channel && 'guild' in channel ? channel.guild.premiumTier : undefined);
  }

  async sendTyping(target: EventSource): Promise<void> {
    await this.rest('show typing', target.chatId, (client) => client.rest.post(Routes.channelTyping(target.chatId)));
  }

  status(): ChannelStatus {
    const shards = [...(this.client?.ws.shards.values() ?? [])];
    if (this.state === 'connected' && shards.length > 0) {
      const problem = this.health.problem(shards.map((shard) => ({ id: shard.id, ready: shard.status === Status.Ready, lastAckedHeartbeatAt: shard.lastPingTimestamp })));
      if (problem) return { state: 'reconnecting', lastError: problem };
    }
    return { state: this.state, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  private listen(client: Client): void {
    client.on(Events.MessageCreate, (message) => this.onMessage(client, message));
    client.on(Events.ShardDisconnect, (event, shardId) => this.onDisconnect(event.code, shardId));
    // status() reads each shard's own state: one shard reconnecting leaves the others answering
    client.on(Events.ShardReconnecting, (shardId) => this.log.info({ shardId }, 'gateway reconnecting'));
    client.on(Events.ShardResume, (shardId, replayed) => this.log.info({ shardId, replayed }, 'gateway session resumed'));
    client.on(Events.ShardReady, (shardId) => {
      this.health.onSessionStart(shardId);
      this.log.info({ shardId }, 'gateway session started');
      // a new session (not a RESUME) replays nothing: what came meanwhile in its guilds (shard 0: and DMs) can only be fetched
      void this.catchUp?.run({ covers: (channelId) => this.shardOfChannel(client, channelId) === shardId, log: this.log.child({ shardId }) });
    });
    client.on(Events.Invalidated, () => this.log.warn('gateway session invalidated'));
    client.on(Events.ShardError, (err, shardId) => this.log.warn({ err, shardId }, 'gateway connection error'));
    client.on(Events.Error, (err) => this.log.error({ err }, 'discord.js error'));
    // only known lines: other debug lines may carry the IDENTIFY payload
    client.on(Events.Debug, (line) => {
      this.health.onDebugLine(line);
      const invalid = INVALID_SESSION.exec(line);
      if (invalid) this.log.warn({ shardId: shardOfDebugLine(line), resumable: invalid[1] === 'true' }, 'gateway session invalidated by Discord');
      else if (GATEWAY_NOTICE.test(line)) this.log.info({ shardId: shardOfDebugLine(line), detail: line }, 'gateway');
    });
    // not the 'response' event: discord.js clones every response body for it
    client.rest.on('rateLimited', (info) => {
      this.options.observer.rateLimited('discord');
      // a receipt's limit is handed back (rejectOnRateLimit); anything else waits and goes again
      if (!REACTIONS_ROUTE.test(info.route)) this.options.observer.retried('discord');
      this.log.warn({ method: info.method, route: info.route, retryAfterMs: info.retryAfter, global: info.global, scope: info.scope, limit: info.limit }, 'Discord rate limit: waiting');
    });
  }

  private onMessage(client: Client, message: Message): void {
    if (this.paused || !client.user) return;
    if (this.catchUp) this.catchUp.live(message);
    else void this.handle(client, message);
  }

  private decide(client: Client, message: Message): InboundDecision {
    const botId = client.user!.id;
    return decideInbound(toInbound(message, botId), botId, (userId, isPrivate) => this.access.allows(userId, isPrivate));
  }

  /** Live and caught-up messages alike. Resolves once the message is journaled or needs nothing, and moves its channel's cursor. */
  private async handle(client: Client, message: Message): Promise<void> {
    const decision = this.decide(client, message);
    const eventId = discordEventId(message.channelId, message.id, this.name);
    const sessionId = discordSessionId(message.channelId, this.name);
    switch (decision.action) {
      case 'ignore':
        if (decision.reason === 'empty') this.log.debug({ eventId }, 'empty message ignored');
        break;
      case 'refuse': {
        this.log.info({ eventId, userId: message.author.id }, `message from a user not in ${this.options.account.configKey}.allowed_user_ids`);
        const answer = this.access.turnAway(sourceOf(message, this.name), message.author.username);
        if (answer) void this.notice(message, eventId, answer);
        break;
      }
      case 'text-only':
        void this.notice(message, eventId, TEXT_ONLY_TEXT);
        break;
      case 'answer': {
        this.cursors?.open(message.channelId, message.id, message.guildId);
        const files = decision.files ? { files: decision.files } : {};
        const event = createEvent<InboundEvent>({ id: eventId, type: 'inbound', sessionId, source: sourceOf(message, this.name), content: decision.content, retryCount: 0, ...files });
        try {
          // a replayed MESSAGE_CREATE, or one fetched again, has the same event id: the journal turns it away
          if (!(await this.publish(event))) this.log.debug({ eventId, sessionId }, 'message already handled; duplicate ignored');
          else this.receipts.seen(event.source);
        } catch (err) {
          return this.log.error({ err, eventId, sessionId }, 'could not journal a Discord message; it will not be answered');
        }
      }
    }
    this.cursors?.advance(message.channelId, message.id);
  }

  /** A fixed answer that needs no LLM (refusal, text only), sent once even if the message is replayed. */
  private async notice(message: Message, eventId: string, text: string): Promise<void> {
    const body = createMessageBody(text, sourceOf(message, this.name), messageNonce(eventId, 'notice'), true);
    try {
      await this.rest('send a notice', message.channelId, (client) => client.rest.post(Routes.channelMessages(message.channelId), { body }));
    } catch (err) {
      this.log.warn({ err, eventId }, 'could not send a notice');
    }
  }

  /** PUT or DELETE the bot's own reaction on a message (a receipt). */
  private async react(target: EventSource, emoji: string, method: 'put' | 'delete'): Promise<void> {
    const route = Routes.channelMessageOwnReaction(target.chatId, target.messageId!, encodeURIComponent(emoji));
    await this.rest(method === 'put' ? 'add a reaction' : 'remove a reaction', target.chatId, (client) => client.rest[method](route));
  }

  private async rest(what: string, channelId: string, call: (client: Client) => Promise<unknown>): Promise<unknown> {
    const client = this.client;
    if (!client) throw new ChannelError(`cannot ${what} in Discord channel ${channelId}: the Discord channel is not running`, true);
    try {
      return await call(client);
    } catch (err) {
      throw toChannelError(err, `${what} in channel ${channelId}`);
    }
  }

  /**
   * The shard that receives a served channel's messages: by its guild, kept with its cursor or known
   * from the cache; a channel of neither (a DM, or one gone) is shard 0's, as DMs are.
   */
  private shardOfChannel(client: Client, channelId: string): number {
    const kept = this.cursors?.guildOf(channelId);
    const cached = kept === undefined ? client.channels.cache.get(channelId) : undefined;
    const guildId = kept !== undefined ? kept : cached && 'guildId' in cached ? cached.guildId : null;
    return shardOfGuild(guildId, client.options.shardCount ?? 1);
  }

  private onDisconnect(code: number, shardId: number): void {
    this.log.error({ shardId, code }, 'Discord closed the gateway for good');
    const error = closeError(code);
    this.state = 'failed';
    this.lastError = error.message;
    if (this.failStart) return this.failStart(error);
    if (this.running) {
      this.running = false;
      this.onCrash?.(error);
    }
  }
}

async function fetchAfter(client: Client, channelId: string, after: string, limit: number): Promise<Message[]> {
  const channel = await client.channels.fetch(channelId);
  if (!channel?.isTextBased()) return [];
  return [...(await channel.messages.fetch({ after, limit, cache: false })).values()];
}

function toInbound(message: Message, botId: string): DiscordInbound {
  return {
    id: message.id,
    channelId: message.channelId,
    guildId: message.guildId,
    authorId: message.author.id,
    authorIsBot: message.author.bot || message.webhookId !== null,
    type: message.type,
    content: message.content,
    attachments: message.stickers.size,
    files: [...message.attachments.values()].map((attachment) => attachmentFile(attachment, message.flags.bitfield)),
    mentionsBot: message.mentions.users.has(botId),
    repliesToBot: message.mentions.repliedUser?.id === botId,
  };
}

function sourceOf(message: Message, channelName: string): EventSource {
  const channel = message.channel as Message['channel'] | null;
  return {
    channel: channelName,
    chatId: message.channelId,
    userId: message.author.id,
    messageId: message.id,
    ...(channel?.isThread() ? { threadId: message.channelId } : {}),
    chatType: message.guildId === null ? 'private' : 'group',
  };
}
