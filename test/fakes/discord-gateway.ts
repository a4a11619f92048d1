import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

// Discord objects as the gateway and REST carry them (snake_case, ids as snowflake strings).
export interface FakeUser {
  id: string;
  username: string;
  global_name: string | null;
  discriminator: string;
  avatar: string | null;
  bot?: boolean;
}

export interface FakeChannel {
  id: string;
  type: number;
  guild_id?: string;
  parent_id?: string | null;
  name?: string;
  recipients?: FakeUser[];
  last_message_id?: string | null;
  [field: string]: unknown;
}

export interface FakeAttachment {
  id: string;
  filename: string;
  size: number;
  url: string;
  proxy_url: string;
  content_type: string;
}

export interface FakeMessageReference {
  type?: number;
  message_id?: string;
  channel_id?: string;
  guild_id?: string;
  fail_if_not_exists?: boolean;
}

export interface FakeMessage {
  id: string;
  channel_id: string;
  guild_id?: string;
  member?: Record<string, unknown>;
  author: FakeUser;
  content: string;
  timestamp: string;
  edited_timestamp: string | null;
  tts: boolean;
  mention_everyone: boolean;
  mentions: FakeUser[];
  mention_roles: string[];
  attachments: FakeAttachment[];
  embeds: unknown[];
  components: unknown[];
  pinned: boolean;
  type: number;
  flags: number;
  channel_type: number;
  nonce?: string | number;
  message_reference?: FakeMessageReference;
  referenced_message?: FakeMessage | null;
  /** Fake-only annotation on bot messages: the allowed_mentions the bot sent. Never put on the wire. */
  allowed_mentions?: unknown;
}

/** Gateway intent bits the fake understands (https://discord.com/developers/docs/events/gateway#gateway-intents). */
export const GatewayIntent = {
  GUILDS: 1 << 0,
  GUILD_MESSAGES: 1 << 9,
  DIRECT_MESSAGES: 1 << 12,
  MESSAGE_CONTENT: 1 << 15,
} as const;

const OP = { DISPATCH: 0, HEARTBEAT: 1, IDENTIFY: 2, PRESENCE: 3, VOICE: 4, RESUME: 6, RECONNECT: 7, MEMBERS: 8, INVALID_SESSION: 9, HELLO: 10, ACK: 11 } as const;

/** Discord keeps this many dispatches per session for RESUME; older sequence numbers get op 9. */
const REPLAY_LIMIT = 1_000;

export interface GatewayDispatch {
  op: 0;
  t: string;
  s: number;
  d: unknown;
}

/** `[shard_id, num_shards]`, as IDENTIFY and READY carry it. */
export type ShardPair = [id: number, count: number];

export interface IdentifyRecord {
  sessionId: string;
  intents: number;
  shard: ShardPair;
  at: number;
}

/** A guild the bot is in: its id decides its shard, its payload is the full GUILD_CREATE. */
export interface HostedGuild {
  id: string;
  payload: unknown;
}

/** What the gateway needs from the world it serves. */
export interface GatewayHost {
  readonly token: string;
  readyPayload(sessionId: string, shard: ShardPair, guildIds: string[]): unknown;
  guilds(): HostedGuild[];
}

export interface GatewayOptions {
  heartbeatIntervalMs: number;
  /** IDENTIFY asking for any of these bits is closed with 4014 (privileged intent not enabled for the app). */
  disallowedIntents: number;
  /** IDENTIFY with fewer shards than this is closed with 4011 (sharding required: too many guilds for that many connections). */
  requiredShards: number;
}

/**
 * The shard a guild's events go to: `(guild_id >> 22) % num_shards`; DMs (no guild) go to shard 0.
 * https://discord.com/developers/docs/events/gateway#sharding
 */
export function shardOfGuild(guildId: string | undefined, count: number): number {
  return guildId === undefined ? 0 : Number((BigInt(guildId) >> 22n) % BigInt(count));
}

/** Decides what a session with `intents` receives of a dispatch: the payload, a redacted copy, or nothing. */
export type IntentFilter = (intents: number, d: unknown) => unknown;

interface Session {
  readonly id: string;
  readonly intents: number;
  readonly shard: ShardPair;
  seq: number;
  readonly log: GatewayDispatch[];
  socket: WebSocket | null;
}

/** The WebSocket half of the fake Discord: HELLO, IDENTIFY/READY, heartbeats, RESUME with replay, faults. */
export class FakeGateway {
  readonly identifies: IdentifyRecord[] = [];
  resumeCount = 0;
  /** WebSocket connections accepted since start (open or not). */
  connections = 0;
  heartbeats = 0;
  /** Set to false to stop answering heartbeats, so the client declares the connection a zombie. */
  ackHeartbeats = true;

  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sessions = new Map<string, Session>();
  private readonly sockets = new Set<WebSocket>();
  private readonly sessionOf = new Map<WebSocket, Session>();

  constructor(
    private readonly host: GatewayHost,
    private readonly options: GatewayOptions,
  ) {}

  get openConnections(): number {
    return this.sockets.size;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
  }

  /**
   * Sends a dispatch to every live session of the shard it belongs to, by its `guild_id` (none: shard 0),
   * buffered for sessions that are disconnected but resumable.
   */
  dispatch(t: string, d: unknown, filter?: IntentFilter): void {
    const guildId = guildOfDispatch(t, d);
    for (const session of this.sessions.values()) {
      if (shardOfGuild(guildId, session.shard[1]) !== session.shard[0]) continue;
      const payload = filter ? filter(session.intents, d) : d;
      if (payload !== null && payload !== undefined) this.sendDispatch(session, t, structuredClone(payload));
    }
  }

  /** The shards whose sessions (live or resumable) were sent dispatch `t` of the object `id`: where it was routed. */
  shardsSent(t: string, id: string): number[] {
    const sent = [...this.sessions.values()].filter((session) => session.log.some((dispatch) => dispatch.t === t && (dispatch.d as { id?: unknown } | null)?.id === id));
    return sent.map((session) => session.shard[0]).sort((a, b) => a - b);
  }

  /** Terminates every socket (or those of one shard's sessions) without a close frame: the client sees 1006 and should RESUME. */
  dropSockets(shardId?: number): void {
    for (const ws of this.sockets) {
      if (shardId === undefined || this.sessionOf.get(ws)?.shard[0] === shardId) ws.terminate();
    }
  }

  closeSockets(code: number, reason = ''): void {
    for (const ws of this.sockets) ws.close(code, reason);
  }

  sendReconnect(): void {
    for (const ws of this.sockets) send(ws, { op: OP.RECONNECT, d: null });
  }

  sendInvalidSession(resumable: boolean): void {
    for (const ws of this.sockets) {
      const session = this.sessionOf.get(ws);
      if (!resumable && session) {
        this.sessions.delete(session.id);
        this.sessionOf.delete(ws);
      }
      send(ws, { op: OP.INVALID_SESSION, d: resumable });
    }
  }

  close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.sessions.clear();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }

  private onConnection(ws: WebSocket): void {
    this.connections++;
    this.sockets.add(ws);
    ws.on('error', () => undefined);
    ws.on('message', (data) => this.onPayload(ws, data));
    ws.on('close', (code) => this.onClose(ws, code));
    send(ws, { op: OP.HELLO, d: { heartbeat_interval: this.options.heartbeatIntervalMs } });
  }

  private onClose(ws: WebSocket, code: number): void {
    this.sockets.delete(ws);
    const session = this.sessionOf.get(ws);
    this.sessionOf.delete(ws);
    if (!session || session.socket !== ws) return;
    session.socket = null;
    // A client closing with 1000/1001 ends its session; any other close leaves it resumable.
    if (code === 1000 || code === 1001) this.sessions.delete(session.id);
  }

  private onPayload(ws: WebSocket, data: RawData): void {
    let payload: { op?: unknown; d?: unknown };
    try {
      payload = JSON.parse(rawToString(data)) as { op?: unknown; d?: unknown };
    } catch {
      ws.close(4002, 'Error while decoding payload.');
      return;
    }
    const d = (payload.d ?? {}) as Record<string, unknown>;
    switch (payload.op) {
      case OP.HEARTBEAT:
        this.heartbeats++;
        if (this.ackHeartbeats) send(ws, { op: OP.ACK });
        return;
      case OP.IDENTIFY:
        return this.identify(ws, d);
      case OP.RESUME:
        return this.resume(ws, d);
      case OP.PRESENCE:
      case OP.VOICE:
      case OP.MEMBERS:
        return;
      default:
        ws.close(4001, 'Unknown opcode.');
    }
  }

  private identify(ws: WebSocket, d: Record<string, unknown>): void {
    if (this.sessionOf.has(ws)) return ws.close(4005, 'Already authenticated.');
    if (d['token'] !== this.host.token) return ws.close(4004, 'Authentication failed.');
    const intents = d['intents'];
    if (typeof intents !== 'number') return ws.close(4013, 'Invalid intent(s).');
    if (intents & this.options.disallowedIntents) return ws.close(4014, 'Disallowed intent(s).');
    // without `shard` Discord takes the one connection a bot may have unsharded
    const shard = d['shard'] ?? [0, 1];
    if (!isShardPair(shard)) return ws.close(4010, 'Invalid shard.');
    if (shard[1] < this.options.requiredShards) return ws.close(4011, 'Sharding required.');

    const session: Session = { id: randomBytes(16).toString('hex'), intents, shard, seq: 0, log: [], socket: ws };
    this.sessions.set(session.id, session);
    this.sessionOf.set(ws, session);
    this.identifies.push({ sessionId: session.id, intents, shard, at: Date.now() });
    const guilds = this.host.guilds().filter((guild) => shardOfGuild(guild.id, shard[1]) === shard[0]);
    this.sendDispatch(session, 'READY', this.host.readyPayload(session.id, shard, guilds.map((guild) => guild.id)));
    // Without GUILDS the guilds stay unavailable: discord.js then marks the shard ready at once.
    if (intents & GatewayIntent.GUILDS) {
      for (const guild of guilds) this.sendDispatch(session, 'GUILD_CREATE', guild.payload);
    }
  }

  private resume(ws: WebSocket, d: Record<string, unknown>): void {
    if (d['token'] !== this.host.token) return ws.close(4004, 'Authentication failed.');
    const session = this.sessions.get(String(d['session_id']));
    const seq = typeof d['seq'] === 'number' ? d['seq'] : 0;
    const oldest = session?.log[0]?.s ?? Number.POSITIVE_INFINITY;
    if (!session || seq > session.seq || (oldest > seq + 1 && session.seq > seq)) {
      send(ws, { op: OP.INVALID_SESSION, d: false });
      return;
    }
    if (session.socket && session.socket !== ws) session.socket.terminate();
    session.socket = ws;
    this.sessionOf.set(ws, session);
    this.resumeCount++;
    for (const dispatch of session.log) if (dispatch.s > seq) send(ws, dispatch);
    this.sendDispatch(session, 'RESUMED', null);
  }

  private sendDispatch(session: Session, t: string, d: unknown): void {
    session.seq++;
    const dispatch: GatewayDispatch = { op: OP.DISPATCH, t, s: session.seq, d };
    session.log.push(dispatch);
    if (session.log.length > REPLAY_LIMIT) session.log.shift();
    if (session.socket) send(session.socket, dispatch);
  }
}

/** Guild events (GUILD_CREATE, GUILD_UPDATE, ...) carry the guild's id as `id`; the others as `guild_id`. */
function guildOfDispatch(t: string, d: unknown): string | undefined {
  const fields = (d ?? {}) as { id?: string; guild_id?: string };
  return fields.guild_id ?? (t.startsWith('GUILD_') ? fields.id : undefined);
}

function isShardPair(value: unknown): value is ShardPair {
  if (!Array.isArray(value) || value.length !== 2 || !value.every(Number.isInteger)) return false;
  const [id, count] = value as number[];
  return count! >= 1 && id! >= 0 && id! < count!;
}

function send(ws: WebSocket, payload: unknown): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(payload));
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

/** What READY and GUILD_CREATE describe: the bot, and who owns its guilds. */
export interface GatewayWorld {
  botUser: FakeUser;
  gatewayUrl: string;
  ownerId: string;
  joinedAt: string;
  botMember: Record<string, unknown>;
}

/** One guild as GUILD_CREATE describes it. */
export interface GatewayGuild {
  id: string;
  name: string;
  systemChannelId: string;
  /** Its channels and threads. */
  channels: FakeChannel[];
}

/** READY lists the guilds of the session's shard only, each unavailable until its GUILD_CREATE. */
export function readyPayload(world: GatewayWorld, sessionId: string, shard: ShardPair, guildIds: string[]): unknown {
  return {
    v: 10, user: { ...world.botUser, verified: true, mfa_enabled: false, flags: 0 }, guilds: guildIds.map((id) => ({ id, unavailable: true })),
    session_id: sessionId, session_type: 'normal', resume_gateway_url: world.gatewayUrl, shard,
    application: { id: world.botUser.id, flags: 0 }, private_channels: [], relationships: [], presences: [], guild_join_requests: [],
  };
}

/** The full guild discord.js caches before ClientReady: channels and threads fill `client.channels`. */
export function guildCreatePayload(world: GatewayWorld, guild: GatewayGuild): unknown {
  const isThread = (c: FakeChannel) => c.type === 11 || c.type === 12;
  // View channel, send messages (+ in threads), embed links, attach files, read history, add reactions.
  const everyone = (1n << 10n) | (1n << 11n) | (1n << 38n) | (1n << 14n) | (1n << 15n) | (1n << 16n) | (1n << 6n);
  return {
    id: guild.id, name: guild.name, icon: null, splash: null, discovery_splash: null, banner: null, description: null,
    owner_id: world.ownerId, afk_channel_id: null, afk_timeout: 300, verification_level: 0, default_message_notifications: 0,
    explicit_content_filter: 0, mfa_level: 0, nsfw_level: 0, premium_tier: 0, premium_subscription_count: 0,
    premium_progress_bar_enabled: false, preferred_locale: 'en-US', features: [], emojis: [], stickers: [],
    application_id: null, system_channel_id: guild.systemChannelId, system_channel_flags: 0, rules_channel_id: null,
    public_updates_channel_id: null, safety_alerts_channel_id: null, vanity_url_code: null, max_members: 500_000,
    joined_at: world.joinedAt, large: false, unavailable: false, member_count: 2,
    roles: [{
      id: guild.id, name: '@everyone', color: 0, colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false, icon: null, unicode_emoji: null, position: 0, permissions: everyone.toString(), managed: false, mentionable: false, flags: 0,
    }],
    members: [{ ...world.botMember, user: world.botUser }],
    channels: guild.channels.filter((c) => !isThread(c)), threads: guild.channels.filter(isThread),
    voice_states: [], presences: [], stage_instances: [], guild_scheduled_events: [], soundboard_sounds: [],
  };
}

/**
 * Per-session intent rules for MESSAGE_CREATE/UPDATE: no guild or DM messages without their intent, and
 * without MESSAGE_CONTENT a guild message keeps its content only when it is the bot's or mentions the bot.
 */
export function messageIntentFilter(botId: string): IntentFilter {
  return (intents, d) => {
    const { allowed_mentions: _annotation, ...message } = d as FakeMessage;
    const inGuild = message.guild_id !== undefined;
    if (!(intents & (inGuild ? GatewayIntent.GUILD_MESSAGES : GatewayIntent.DIRECT_MESSAGES))) return null;
    const readable = !inGuild || intents & GatewayIntent.MESSAGE_CONTENT || message.author.id === botId || message.mentions.some((u) => u.id === botId);
    return readable ? message : { ...message, content: '', embeds: [], attachments: [], components: [] };
  };
}
