import { FakeDiscord } from '../fakes/discord.ts';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { waitFor } from '../helpers/wait.ts';

import type { TestFile } from '../helpers/media-corpus.ts';

export type { TestFile };

/** A file the bot sent: Telegram's photo or document, Discord's attachment ('file'). */
export interface SentFile {
  as: 'photo' | 'document' | 'file';
  name: string;
  data: Buffer;
  caption: string;
}

/**
 * One conversation on one platform, as the media tests need it, so every test runs on both:
 * a user sends text and files in one message (on Telegram several photos are an album), and
 * the test reads what the bot sent back and how often it downloaded a file.
 */
export interface MediaChat {
  readonly platform: 'telegram' | 'discord';
  /** The platform's chat id, as event ids and session ids carry it. */
  readonly id: string;
  send(message: { text?: string; files?: TestFile[] }): void;
  /** The bot's text messages in this conversation, oldest first. */
  texts(): string[];
  files(): SentFile[];
  waitForTexts(n: number, timeoutMs?: number): Promise<string[]>;
}

/** A fake platform and the fake LLM, and a fresh conversation per test. */
export interface MediaWorld {
  readonly platform: 'telegram' | 'discord';
  readonly llm: FakeOpenAI;
  config(): Record<string, unknown>;
  /** A new private conversation (Telegram chat, Discord DM). */
  chat(): MediaChat;
  /** File downloads the bot made from the platform, in all. */
  downloads(): number;
  /** Downloads from now on take this long (a slow file host). */
  slowDownloads(ms: number): void;
  close(): Promise<void>;
}

export async function startMediaWorld(platform: 'telegram' | 'discord'): Promise<MediaWorld> {
  return platform === 'telegram' ? telegramWorld() : discordWorld();
}

async function telegramWorld(): Promise<MediaWorld> {
  const [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
  let nextChat = 7001;
  return {
    platform: 'telegram',
    llm,
    config: () => fakesConfig({ llm, telegram }),
    downloads: () => telegram.downloads.length,
    slowDownloads: (ms) => void (telegram.fileLatencyMs = ms),
    close: async () => void (await Promise.all([telegram.close(), llm.close()])),
    chat(): MediaChat {
      const chatId = nextChat++;
      const texts = () => telegram.botMessages(chatId).flatMap((m) => (m.text !== undefined ? [m.text] : []));
      return {
        platform: 'telegram',
        id: String(chatId),
        send({ text, files = [] }) {
          const options = files.map((file, i) => telegramItem(file, i === 0 ? text : undefined));
          if (options.length === 0) telegram.userSays({ chatId, text: text ?? '' });
          else if (options.length === 1) telegram.userSays({ chatId, ...options[0] });
          else telegram.userSendsAlbum(options.map((o) => ({ chatId, ...o })));
        },
        texts,
        files: () =>
          telegram.uploadsTo(chatId).map((u) => ({ as: u.method === 'sendPhoto' ? 'photo' : 'document', name: u.name, data: u.data, caption: u.caption ?? '' })),
        waitForTexts: (n, timeoutMs = 15_000) => waitFor(() => texts().length >= n && texts(), timeoutMs, `${n} text message(s) from the bot in Telegram chat ${chatId}`),
      };
    },
  };
}

function telegramItem(file: TestFile, caption: string | undefined): Parameters<FakeTelegram['userSays']>[0] {
  const withCaption = caption !== undefined ? { caption } : {};
  if (file.kind === 'photo') return { photo: file.data, ...withCaption };
  if (file.kind === 'voice') return { voice: file.data, ...withCaption };
  return { document: { name: file.name, mime: file.mime, data: file.data }, ...withCaption };
}

async function discordWorld(): Promise<MediaWorld> {
  const [discord, llm] = await Promise.all([FakeDiscord.start({ heartbeatIntervalMs: 1_000 }), FakeOpenAI.start()]);
  let n = 0;
  return {
    platform: 'discord',
    llm,
    config: () => fakesConfig({ llm, discord }),
    downloads: () => discord.downloads.length,
    slowDownloads: (ms) => void (discord.fileLatencyMs = ms),
    close: async () => void (await Promise.all([discord.close(), llm.close()])),
    chat(): MediaChat {
      const dm = discord.dmChannelFor(discord.nextId(), `media${n++}`);
      const sent = () => discord.sentMessages(dm.id);
      const texts = () => sent().flatMap((m) => (m.attachments.length === 0 ? [m.content] : []));
      return {
        platform: 'discord',
        id: dm.id,
        send({ text, files = [] }) {
          discord.userSays({
            channelId: dm.id,
            content: text ?? '',
            files: files.map((f) => ({ name: f.kind === 'voice' ? 'voice-message.ogg' : f.name, data: f.data, contentType: f.mime, voice: f.kind === 'voice' })),
          });
        },
        texts,
        files: () =>
          sent().flatMap((m) => m.attachments.map((a) => ({ as: 'file' as const, name: a.filename, data: discord.attachmentData.get(new URL(a.url).pathname) ?? Buffer.alloc(0), caption: m.content }))),
        waitForTexts: (count, timeoutMs = 15_000) => waitFor(() => texts().length >= count && texts(), timeoutMs, `${count} text message(s) from the bot in Discord DM ${dm.id}`),
      };
    },
  };
}
