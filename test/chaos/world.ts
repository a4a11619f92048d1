import { FakeDiscord } from '../fakes/discord.ts';
import { FakeOpenAI, type FakeReply, type FakeRequest } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { OPEN_ACCESS } from '../helpers/config.ts';
import type { TestFile } from '../helpers/media-corpus.ts';
import type { Rng } from './rng.ts';
import { tickReply } from './ticker.ts';

/** Distinctive secrets, so a scan of logs, replies and files after the run can find any leak. */
export const SECRETS = {
  telegram: '7000000001:AAchaosSECRETtelegramToken',
  discord: 'chaos-SECRET-discord-token.0123456789abcdef',
  llm: 'sk-chaos-SECRET-llm-key-0123456789abcdef',
  /** The password of the redis-server of `--redis` runs, in bus.redis_url. */
  redis: 'chaos-SECRET-redis-password-0123456789abcdef',
};

export type Platform = 'telegram' | 'discord';

/** One conversation the chaos run talks in: a Telegram chat or topic, a Discord DM, channel or thread. */
export interface ChaosSession {
  key: string;
  platform: Platform;
  /** Sends a user message, with a file when given (its caption); returns the bus event id the daemon will give it. */
  say(text: string, file?: TestFile): string;
  /** What the bot has posted in this conversation, oldest first. */
  botTexts(): string[];
}

/** How the fake LLM answers message `m<idx>`: one paragraph or a long multi-chunk reply, with or without a tool call first. */
export interface ReplyPlan {
  parts: number;
  tool: boolean;
}

const TAGS = /\bm(\d+)\b/g;
const PART_CHARS = 240;

/** The reply to `m<idx>`: `parts` paragraphs, each starting with its tag `m<idx>-<k>`, so every chunk names itself. */
export function replyText(idx: number, parts: number): string {
  const filler = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor '.repeat(4);
  return Array.from({ length: parts }, (_, k) => `m${idx}-${k} ${filler}`.slice(0, PART_CHARS).trim()).join('\n\n');
}

/** Fake Telegram, Discord and LLM, and the conversations spread over both platforms. */
export class ChaosWorld {
  readonly sessions: ChaosSession[] = [];
  readonly plans = new Map<number, ReplyPlan>();
  /** Where the owner's scheduled job (ticker.ts) posts: a Discord channel of its own, so its nonces make a replayed answer idempotent. */
  readonly tickChannel: string;

  private constructor(
    readonly telegram: FakeTelegram,
    readonly discord: FakeDiscord,
    readonly llm: FakeOpenAI,
  ) {
    this.tickChannel = discord.dmChannelFor(discord.nextId(), 'ticker').id;
  }

  static async start(rng: Rng, layout = { telegramPrivate: 10, telegramGroups: 3, telegramTopics: 2, discordDms: 8, discordThreads: 3 }): Promise<ChaosWorld> {
    const [telegram, discord, llm] = await Promise.all([
      FakeTelegram.start({ token: SECRETS.telegram, botUsername: 'chaos_bot' }),
      FakeDiscord.start({ token: SECRETS.discord, heartbeatIntervalMs: 1_000 }),
      FakeOpenAI.start(),
    ]);
    const world = new ChaosWorld(telegram, discord, llm);
    llm.setResponder((req) => world.answer(req, rng));
    for (let i = 0; i < layout.telegramPrivate; i++) world.telegramChat(`tg-dm-${i}`, { chatId: 3000 + i });
    for (let i = 0; i < layout.telegramGroups; i++) world.telegramChat(`tg-group-${i}`, { chatId: -1_002_000_000_000 - i, chatType: 'supergroup', userId: 3100 + i, mention: true });
    for (let i = 0; i < layout.telegramTopics; i++) {
      world.telegramChat(`tg-topic-${i}`, { chatId: -1_003_000_000_001, chatType: 'supergroup', isForum: true, threadId: 10 + i, userId: 3200 + i, mention: true });
    }
    for (let i = 0; i < layout.discordDms; i++) world.discordChannel(`dc-dm-${i}`, discord.dmChannelFor(discord.nextId(), `user${i}`).id, false);
    world.discordChannel('dc-general', discord.textChannelId, true);
    for (let i = 0; i < layout.discordThreads; i++) world.discordChannel(`dc-thread-${i}`, discord.addThread(discord.textChannelId, `thread-${i}`).id, true);
    return world;
  }

  /** The daemon's config.user.yaml: both platforms and the LLM pointed at the fakes. */
  config(): Record<string, unknown> {
    return {
      llm: { api_base: this.llm.url, model: 'chaos-model', api_key: SECRETS.llm, max_retries: 1, timeout_s: 20 },
      agent: { retry_backoff_ms: 50 },
      channels: {
        telegram: { enabled: true, bot_token: this.telegram.token, api_root: this.telegram.apiRoot, ...OPEN_ACCESS },
        // the daemons' clock runs ahead for the scheduled job (ticker.ts): missed messages stay young enough to catch up
        discord: { enabled: true, bot_token: this.discord.token, api_base: this.discord.apiBase, ...OPEN_ACCESS, catch_up_max_age_s: 86_400 },
      },
      server: { drain_timeout_s: 5 },
    };
  }

  async close(): Promise<void> {
    await Promise.all([this.telegram.close(), this.discord.close(), this.llm.close()]);
  }

  private telegramChat(key: string, where: { chatId: number; chatType?: 'supergroup'; isForum?: boolean; threadId?: number; userId?: number; mention?: boolean }): void {
    const { telegram } = this;
    this.sessions.push({
      key,
      platform: 'telegram',
      say: (text, file) => {
        const message = telegram.userSays({ ...where, ...(file ? { caption: text, ...telegramFile(file) } : { text }) });
        return `telegram:${message.chat.id}:${message.message_id}`;
      },
      botTexts: () =>
        telegram
          .botMessages(where.chatId)
          .filter((m) => where.threadId === undefined || m.message_thread_id === where.threadId)
          .map((m) => m.text ?? ''),
    });
  }

  private discordChannel(key: string, channelId: string, mention: boolean): void {
    const { discord } = this;
    this.sessions.push({
      key,
      platform: 'discord',
      say: (content, file) => {
        const files = file ? [{ name: file.name, data: file.data, contentType: file.mime, voice: file.kind === 'voice' }] : [];
        return `discord:${channelId}:${discord.userSays({ channelId, content, mentionBot: mention, files }).id}`;
      },
      botTexts: () => discord.sentMessages(channelId).map((m) => m.content),
    });
  }

  /**
   * The fake LLM: some latency, a tool call first when planned, then the tagged reply. Messages
   * of a burst reach it as one user message: it answers every tag in it, in order.
   */
  private answer(req: FakeRequest, rng: Rng): FakeReply {
    const user = [...req.messages].reverse().find((m) => m?.role === 'user');
    // with images the content is a list of parts: the text is in its text part
    const content = user?.content as unknown;
    const text = Array.isArray(content) ? content.map((p: { type?: string; text?: string }) => (p.type === 'text' ? p.text : '')).join('') : String(content ?? '');
    const tick = tickReply(text);
    if (tick) return { content: tick, delayMs: 100 };
    const planned = [...text.matchAll(TAGS)].flatMap((m) => {
      const idx = Number(m[1]);
      const plan = this.plans.get(idx);
      return plan ? [{ idx, plan }] : [];
    });
    const delayMs = rng.int(5, 300);
    if (planned.length === 0) return { content: 'untagged message', delayMs };
    const tool = planned.find(({ plan }) => plan.tool);
    if (tool && req.messages.at(-1)?.role === 'user') {
      return { toolCalls: [{ name: 'write_file', arguments: JSON.stringify({ path: `notes/m${tool.idx}.txt`, content: text }) }], delayMs };
    }
    return { content: planned.map(({ idx, plan }) => replyText(idx, plan.parts)).join('\n\n'), delayMs };
  }
}

/** A test file as the Telegram fake sends it: a photo, a voice note or a document. */
function telegramFile(file: TestFile): Parameters<FakeTelegram['userSays']>[0] {
  if (file.kind === 'photo') return { photo: file.data };
  if (file.kind === 'voice') return { voice: file.data };
  return { document: { name: file.name, mime: file.mime, data: file.data } };
}
