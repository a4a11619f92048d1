import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  FakeGateway,
  GatewayIntent,
  guildCreatePayload,
  messageIntentFilter,
  readyPayload,
  shardOfGuild,
  type FakeAttachment,
  type FakeChannel,
  type FakeMessage,
  type FakeUser,
  type GatewayGuild,
  type GatewayWorld,
  type IntentFilter,
  type ShardPair,
} from './discord-gateway.ts';
import { FakeDiscordRest, type RestFault, type RestRequestRecord, type RestRouteMatch } from './discord-rest.ts';

export interface UserSaysOptions {
  channelId?: string;
  userId?: string;
  username?: string;
  bot?: boolean;
  /** Plain text; with `mentionBot` a `<@botId> ` is put in front unless the content already has it. */
  content: string;
  mentionBot?: boolean;
  replyToMessageId?: string;
  /** A reply pings the replied-to author (puts them in `mentions`) unless this is false. */
  replyPing?: boolean;
  /** That many small PNG images, or these files (a voice message with `voice`). */
  attachments?: number;
  files?: FakeUpload[];
  mentionEveryone?: boolean;
  type?: number;
  /** When it was sent (ms since the epoch; default now): its snowflake and timestamp say so, e.g. a message from hours ago. */
  at?: number;
}

/** A file a user attaches: its bytes are served at the attachment's URL. */
export interface FakeUpload {
  name: string;
  data: Buffer;
  contentType?: string;
  /** Sent as a voice message (flag IS_VOICE_MESSAGE), as the Discord app records one. */
  voice?: boolean;
}

export interface TypingCall {
  channelId: string;
  at: number;
}

/** The bot's reaction put on (added) or taken off a message. */
export interface ReactionCall {
  channelId: string;
  messageId: string;
  emoji: string;
  added: boolean;
  at: number;
}

export interface FakeDiscordOptions {
  token?: string;
  botId?: string;
  botUsername?: string;
  heartbeatIntervalMs?: number;
  /** IDENTIFY with MESSAGE_CONTENT is closed with 4014, as when the intent is off in the developer portal. */
  disallowMessageContent?: boolean;
  disallowedIntents?: number;
  /** The `shards` GET /gateway/bot recommends (default 1). */
  recommendedShards?: number;
  /** `session_start_limit.max_concurrency`: discord.js IDENTIFYs shards `id % max_concurrency` apart 5 s from each other (default 1). */
  maxConcurrency?: number;
  /** IDENTIFY with fewer shards than this is closed with 4011, as for a bot in too many servers (default 1). */
  requiredShards?: number;
}

/** A guild of the fake world and its first text channel. */
export interface GuildRef {
  guildId: string;
  textChannelId: string;
}

export type { FakeAttachment, FakeChannel, FakeMessage, FakeMessageReference, FakeUser, ShardPair } from './discord-gateway.ts';
export { shardOfGuild };
export type { RestFault, RestRequestRecord, RestRouteMatch };

export const ChannelType = { GUILD_TEXT: 0, DM: 1, PUBLIC_THREAD: 11, PRIVATE_THREAD: 12 } as const;
const DISCORD_EPOCH = 1_420_070_400_000n;
/** https://discord.com/developers/docs/resources/message#message-object-message-flags */
const VOICE_MESSAGE_FLAG = 1 << 13;
/** A 1 × 1 PNG, what `attachments: n` sends. */
const TINY_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const MENTION = /<@!?(\d+)>/g;

/** Increasing snowflake ids (timestamp << 22, bumped by one when two are minted in the same millisecond). */
export class SnowflakeSource {
  private last = 0n;
  private sequence = 0;

  next(): string {
    const now = (BigInt(Date.now()) - DISCORD_EPOCH) << 22n;
    this.last = now > this.last ? now : this.last + 1n;
    return this.last.toString();
  }

  /** The next id whose timestamp bits `accept` (a guild that must land on a given shard); later ids stay above it. */
  nextWhere(accept: (id: string) => boolean): string {
    let id = BigInt(this.next());
    while (!accept(id.toString())) id = ((id >> 22n) + 1n) << 22n;
    this.last = id;
    return id.toString();
  }

  /** A snowflake minted at `ms` (unique: the low bits count up). */
  at(ms: number): string {
    this.sequence = (this.sequence + 1) % 4096;
    return (((BigInt(ms) - DISCORD_EPOCH) << 22n) | BigInt(this.sequence)).toString();
  }
}

interface ChannelRecord {
  channel: FakeChannel;
  messages: FakeMessage[];
}

/** A loopback Discord (REST under /api/v10 and the gateway at /gateway) for the real discord.js client. */
export class FakeDiscord {
  readonly token: string;
  readonly botUser: FakeUser;
  /** The default human: guild owner and author of `userSays` unless told otherwise. */
  readonly user: FakeUser;
  /** The first guild and its text channel: where `userSays` talks unless told otherwise. */
  readonly guildId: string;
  readonly textChannelId: string;
  /** What GET /gateway/bot answers: `shards` (the recommended count) and `session_start_limit.max_concurrency`. */
  recommendedShards: number;
  maxConcurrency: number;
  readonly typingCalls: TypingCall[] = [];
  /** Bytes served under /attachments/..., by path: what users attached and what the bot uploaded. */
  readonly attachmentData = new Map<string, Buffer>();
  /** The attachment paths the bot downloaded, one entry per download. */
  readonly downloads: string[] = [];
  /** How long an attachment download waits before the bytes go out: a slow CDN. */
  fileLatencyMs = 0;
  readonly reactions: ReactionCall[] = [];
  readonly gateway: FakeGateway;
  readonly rest: FakeDiscordRest;

  private readonly ids = new SnowflakeSource();
  private readonly channels = new Map<string, ChannelRecord>();
  private readonly guilds = new Map<string, Omit<GatewayGuild, 'channels'>>();
  private readonly users = new Map<string, FakeUser>();
  private readonly created: FakeMessage[] = [];
  private readonly joinedAt = new Date().toISOString();
  private readonly messageFilter: IntentFilter;

  private constructor(
    private readonly server: Server,
    opts: FakeDiscordOptions,
  ) {
    this.token = opts.token ?? 'fake-discord-bot-token';
    this.botUser = this.userFor(opts.botId ?? this.ids.next(), opts.botUsername ?? 'mybot', true);
    this.user = this.userFor(this.ids.next(), 'alice', false);
    ({ guildId: this.guildId, textChannelId: this.textChannelId } = this.createGuild('Fake Guild', this.ids.next()));
    this.recommendedShards = opts.recommendedShards ?? 1;
    this.maxConcurrency = opts.maxConcurrency ?? 1;
    const disallowed = (opts.disallowedIntents ?? 0) | (opts.disallowMessageContent ? GatewayIntent.MESSAGE_CONTENT : 0);
    this.gateway = new FakeGateway(
      {
        token: this.token,
        readyPayload: (sessionId, shard, guildIds) => readyPayload(this.gatewayWorld(), sessionId, shard, guildIds),
        guilds: () => [...this.guilds.keys()].map((id) => ({ id, payload: this.guildCreate(id) })),
      },
      { heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 41_250, disallowedIntents: disallowed, requiredShards: opts.requiredShards ?? 1 },
    );
    this.messageFilter = messageIntentFilter(this.botUser.id);
    this.rest = new FakeDiscordRest(this);
  }

  static async start(opts: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    const server = createServer();
    const fake = new FakeDiscord(server, opts);
    server.on('request', (req, res) => {
      fake.rest.handle(req, res).catch(() => res.destroy());
    });
    server.on('upgrade', (req, socket, head: Buffer) => {
      if (req.url?.startsWith('/gateway')) fake.gateway.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Pass as `rest: { api }` to discord.js, which appends `/v10`. */
  get apiBase(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  get gatewayUrl(): string {
    return `ws://127.0.0.1:${this.port}/gateway`;
  }

  get requests(): RestRequestRecord[] {
    return this.rest.requests;
  }

  get identifyCount(): number {
    return this.gateway.identifies.length;
  }

  get resumeCount(): number {
    return this.gateway.resumeCount;
  }

  get connections(): number {
    return this.gateway.connections;
  }

  failNextRest(match: RestRouteMatch, n: number, fault: RestFault): void {
    this.rest.failNext(match, n, fault);
  }

  /** Requests matching `match` fail at random from now on (see FakeDiscordRest.failRandomly); `stopFailing` lifts it. */
  failRandomly(match: RestRouteMatch, pick: () => RestFault | undefined): void {
    this.rest.failRandomly(match, pick);
  }

  stopFailing(): void {
    this.rest.stopFailing();
  }

  /** Drops every gateway connection, or only those of shard `shardId`. */
  dropSockets(shardId?: number): void {
    this.gateway.dropSockets(shardId);
  }

  closeSockets(code: number, reason?: string): void {
    this.gateway.closeSockets(code, reason);
  }

  sendReconnect(): void {
    this.gateway.sendReconnect();
  }

  sendInvalidSession(resumable: boolean): void {
    this.gateway.sendInvalidSession(resumable);
  }

  /**
   * The bot joins another guild with one text channel, announced (GUILD_CREATE) on its shard's
   * connection. With `onShard: [id, count]` its id is minted so that `(id >> 22) % count` is that shard.
   */
  addGuild(opts: { name?: string; onShard?: ShardPair } = {}): GuildRef {
    const [shardId, count] = opts.onShard ?? [0, 1];
    const id = this.ids.nextWhere((candidate) => shardOfGuild(candidate, count) === shardId);
    const guild = this.createGuild(opts.name ?? `Fake Guild ${this.guilds.size + 1}`, id);
    this.gateway.dispatch('GUILD_CREATE', this.guildCreate(id), (intents, d) => (intents & GatewayIntent.GUILDS ? d : null));
    return guild;
  }

  /** Creates a public thread under a guild text channel and announces it (THREAD_CREATE). */
  addThread(parentId: string = this.textChannelId, name = 'thread'): FakeChannel {
    const parent = this.channels.get(parentId)?.channel;
    if (parent?.type !== ChannelType.GUILD_TEXT) throw new Error(`FakeDiscord.addThread: ${parentId} is not a guild text channel`);
    const now = new Date().toISOString();
    const thread: FakeChannel = {
      id: this.ids.next(), type: ChannelType.PUBLIC_THREAD, guild_id: parent.guild_id, parent_id: parentId, name,
      owner_id: this.user.id, last_message_id: null, rate_limit_per_user: 0, flags: 0, message_count: 0,
      member_count: 1, total_message_sent: 0,
      thread_metadata: { archived: false, auto_archive_duration: 1440, archive_timestamp: now, locked: false, create_timestamp: now },
    };
    this.channels.set(thread.id, { channel: thread, messages: [] });
    this.gateway.dispatch('THREAD_CREATE', { ...thread, newly_created: true }, (intents, d) => (intents & GatewayIntent.GUILDS ? d : null));
    return thread;
  }

  /** The DM channel between the bot and `userId`, created on first use (Discord sends no CHANNEL_CREATE for it). */
  dmChannelFor(userId: string, username?: string): FakeChannel {
    const existing = [...this.channels.values()].find((r) => r.channel.type === ChannelType.DM && r.channel.recipients?.[0]?.id === userId);
    if (existing) return existing.channel;
    const dm: FakeChannel = { id: this.ids.next(), type: ChannelType.DM, last_message_id: null, flags: 0, recipients: [this.userFor(userId, username)] };
    this.channels.set(dm.id, { channel: dm, messages: [] });
    return dm;
  }

  channel(id: string): FakeChannel | undefined {
    return this.channels.get(id)?.channel;
  }

  /** Every message stored in a channel, oldest first. */
  messages(channelId: string): FakeMessage[] {
    return [...(this.channels.get(channelId)?.messages ?? [])];
  }

  /** Messages the bot created through REST, in order (a nonce-collapsed retry is not a second one). */
  sentMessages(channelId?: string): FakeMessage[] {
    return this.created.filter((m) => channelId === undefined || m.channel_id === channelId);
  }

  /** Injects a message from a user: stored for GET and dispatched as MESSAGE_CREATE. */
  userSays(opts: UserSaysOptions): FakeMessage {
    const channel = this.channel(opts.channelId ?? this.textChannelId);
    if (!channel) throw new Error(`FakeDiscord.userSays: unknown channel ${opts.channelId}`);
    const defaultAuthor = channel.type === ChannelType.DM ? channel.recipients?.[0] : this.user;
    const author = this.userFor(opts.userId ?? defaultAuthor?.id ?? this.user.id, opts.username, opts.bot);
    const mentionToken = `<@${this.botUser.id}>`;
    const hasMention = opts.content.includes(mentionToken) || opts.content.includes(`<@!${this.botUser.id}>`);
    const content = opts.mentionBot && !hasMention ? `${mentionToken} ${opts.content}` : opts.content;
    const mentions = this.mentionsIn(content);
    let reference: Partial<FakeMessage> = {};
    if (opts.replyToMessageId) {
      const target = this.messages(channel.id).find((m) => m.id === opts.replyToMessageId);
      if (!target) throw new Error(`FakeDiscord.userSays: no message ${opts.replyToMessageId} in channel ${channel.id}`);
      if (opts.replyPing !== false && !mentions.some((u) => u.id === target.author.id)) mentions.push(target.author);
      reference = this.replyFields(channel, target);
    }
    const uploads = [...Array.from({ length: opts.attachments ?? 0 }, (_, i): FakeUpload => ({ name: `image-${i + 1}.png`, data: TINY_PNG, contentType: 'image/png' })), ...(opts.files ?? [])];
    const message = this.composeMessage(channel, author, {
      content, mentions, mention_everyone: opts.mentionEveryone ?? false,
      attachments: uploads.map((file) => this.storeAttachment(channel.id, file)),
      ...(uploads.some((file) => file.voice) ? { flags: VOICE_MESSAGE_FLAG } : {}),
      type: opts.type ?? (opts.replyToMessageId ? 19 : 0), ...reference,
      ...(opts.at !== undefined ? { id: this.ids.at(opts.at), timestamp: new Date(opts.at).toISOString() } : {}),
    });
    this.postMessage(message);
    return message;
  }

  async close(): Promise<void> {
    await this.gateway.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- world primitives used by the REST half ----

  nextId(): string {
    return this.ids.next();
  }

  userFor(id: string, username?: string, bot?: boolean): FakeUser {
    let user = this.users.get(id);
    if (!user) {
      user = { id, username: username ?? `user${id.slice(-4)}`, global_name: null, discriminator: '0', avatar: null };
      this.users.set(id, user);
    } else if (username) user.username = username;
    if (bot) user.bot = true;
    return user;
  }

  /** Users named by `<@id>` in `content` that this world knows, in order, once each. */
  mentionsIn(content: string): FakeUser[] {
    const ids = new Set([...content.matchAll(MENTION)].map((m) => m[1] ?? ''));
    return [...ids].flatMap((id) => this.users.get(id) ?? []);
  }

  replyFields(channel: FakeChannel, target: FakeMessage): Partial<FakeMessage> {
    const { referenced_message: _nested, allowed_mentions: _annotation, ...referenced } = target;
    return {
      message_reference: { type: 0, message_id: target.id, channel_id: channel.id, ...(channel.guild_id ? { guild_id: channel.guild_id } : {}) },
      referenced_message: referenced,
    };
  }

  composeMessage(channel: FakeChannel, author: FakeUser, fields: Partial<FakeMessage>): FakeMessage {
    const guild = channel.guild_id ? { guild_id: channel.guild_id, member: this.memberPayload() } : {};
    return {
      id: this.ids.next(), channel_id: channel.id, ...guild, author, content: '', timestamp: new Date().toISOString(),
      edited_timestamp: null, tts: false, mention_everyone: false, mentions: [], mention_roles: [], attachments: [],
      embeds: [], components: [], pinned: false, type: 0, flags: 0, channel_type: channel.type, ...fields,
    };
  }

  /** Stores a new message in its channel and dispatches MESSAGE_CREATE; bot messages are also `sentMessages`. */
  postMessage(message: FakeMessage): void {
    const record = this.channels.get(message.channel_id);
    if (!record) throw new Error(`FakeDiscord: unknown channel ${message.channel_id}`);
    record.messages.push(message);
    const last = record.channel.last_message_id;
    if (!last || BigInt(message.id) > BigInt(last)) record.channel.last_message_id = message.id;
    const thread = record.channel;
    if (thread.type === ChannelType.PUBLIC_THREAD || thread.type === ChannelType.PRIVATE_THREAD) {
      thread['message_count'] = Number(thread['message_count'] ?? 0) + 1;
      thread['total_message_sent'] = Number(thread['total_message_sent'] ?? 0) + 1;
    }
    if (message.author.id === this.botUser.id) this.created.push(message);
    this.gateway.dispatch('MESSAGE_CREATE', message, this.messageFilter);
  }

  /** Deletes a message everywhere (a deleted bot message is no longer in `sentMessages`) and dispatches MESSAGE_DELETE. */
  removeMessage(message: FakeMessage): void {
    const record = this.channels.get(message.channel_id);
    if (record) record.messages = record.messages.filter((m) => m !== message);
    const created = this.created.indexOf(message);
    if (created >= 0) this.created.splice(created, 1);
    const payload = { id: message.id, channel_id: message.channel_id, ...(message.guild_id ? { guild_id: message.guild_id } : {}) };
    this.gateway.dispatch('MESSAGE_DELETE', payload, (intents, d) => (intents & (message.guild_id ? GatewayIntent.GUILD_MESSAGES : GatewayIntent.DIRECT_MESSAGES) ? d : null));
  }

  announceEdit(message: FakeMessage): void {
    this.gateway.dispatch('MESSAGE_UPDATE', message, this.messageFilter);
  }

  recordTyping(channelId: string): void {
    this.typingCalls.push({ channelId, at: Date.now() });
  }

  recordReaction(call: ReactionCall): void {
    this.reactions.push(call);
  }

  /** Keeps a file's bytes and describes it as Discord does, with a URL on this server. */
  storeAttachment(channelId: string, file: FakeUpload): FakeAttachment {
    const id = this.ids.next();
    const path = `/attachments/${channelId}/${id}/${encodeURIComponent(file.name)}`;
    this.attachmentData.set(path, file.data);
    const url = `http://127.0.0.1:${this.port}${path}?ex=${Math.floor(Date.now() / 1000 + 86_400).toString(16)}`;
    return { id, filename: file.name, size: file.data.length, url, proxy_url: url, content_type: file.contentType ?? 'application/octet-stream' };
  }

  private memberPayload(): Record<string, unknown> {
    return { roles: [], joined_at: this.joinedAt, deaf: false, mute: false, flags: 0, nick: null, avatar: null, premium_since: null, pending: false };
  }

  private createGuild(name: string, guildId: string): GuildRef {
    const textChannelId = this.ids.next();
    this.guilds.set(guildId, { id: guildId, name, systemChannelId: textChannelId });
    this.channels.set(textChannelId, {
      channel: {
        id: textChannelId, type: ChannelType.GUILD_TEXT, guild_id: guildId, name: 'general', position: 0,
        permission_overwrites: [], parent_id: null, topic: null, nsfw: false, last_message_id: null, rate_limit_per_user: 0, flags: 0,
      },
      messages: [],
    });
    return { guildId, textChannelId };
  }

  private guildCreate(guildId: string): unknown {
    const channels = [...this.channels.values()].map((r) => r.channel).filter((c) => c.guild_id === guildId);
    return guildCreatePayload(this.gatewayWorld(), { ...this.guilds.get(guildId)!, channels });
  }

  private gatewayWorld(): GatewayWorld {
    return { botUser: this.botUser, gatewayUrl: this.gatewayUrl, ownerId: this.user.id, joinedAt: this.joinedAt, botMember: this.memberPayload() };
  }
}
