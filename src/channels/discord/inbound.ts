import type { InboundFile } from '../../core/events.ts';

/** What the filter needs to know about a Discord message, taken from discord.js by the adapter. */
export interface DiscordInbound {
  id: string;
  channelId: string;
  /** null in a DM. */
  guildId: string | null;
  authorId: string;
  /** Bots and webhooks. */
  authorIsBot: boolean;
  /** 0 default, 19 reply; everything else is a system message (join, pin, boost, thread created…). */
  type: number;
  content: string;
  /** Stickers: things the agent cannot read. */
  attachments: number;
  /** Attachments: images, voice messages, files. */
  files: InboundFile[];
  /** The bot is in `mentions.users` (an explicit `<@id>`, or the ping of a reply to it). */
  mentionsBot: boolean;
  /** The message replies to one of the bot's messages (`mentions.repliedUser`), pinged or not. */
  repliesToBot: boolean;
}

export type InboundDecision =
  | { action: 'ignore'; reason: 'system' | 'own' | 'bot' | 'not-addressed' | 'empty' }
  /** Addressed to the bot by someone the access policy turns away: no LLM call, at most a short answer. */
  | { action: 'refuse' }
  /** Only stickers: a short fixed answer, no LLM call. */
  | { action: 'text-only' }
  | { action: 'answer'; content: string; files?: InboundFile[] };

const ANSWERED_TYPES: ReadonlySet<number> = new Set([0, 19]);

/**
 * Which messages the agent answers. In a DM, every one; in a guild channel or thread only a
 * message that mentions the bot (`<@id>` / `<@!id>`, stripped from the content) or replies to one
 * of its messages. The bot's own and other bots' messages, system messages and `@everyone` /
 * `@here` pings without an explicit mention are ignored; strangers are refused before any LLM call.
 */
export function decideInbound(message: DiscordInbound, botId: string, allows: (userId: string, isPrivate: boolean) => boolean): InboundDecision {
  if (!ANSWERED_TYPES.has(message.type)) return { action: 'ignore', reason: 'system' };
  if (message.authorId === botId) return { action: 'ignore', reason: 'own' };
  if (message.authorIsBot) return { action: 'ignore', reason: 'bot' };
  const mentionPattern = botMention(botId);
  // A reply pings its author by default, so `mentionsBot` alone is not a mention: the text must name the bot.
  const mentioned = message.mentionsBot && mentionPattern.test(message.content);
  if (message.guildId !== null && !mentioned && !message.repliesToBot) return { action: 'ignore', reason: 'not-addressed' };
  if (!allows(message.authorId, message.guildId === null)) return { action: 'refuse' };
  const content = stripMention(message.content, botId);
  const { files } = message;
  if (content === '' && files.length === 0) return message.attachments > 0 ? { action: 'text-only' } : { action: 'ignore', reason: 'empty' };
  return files.length > 0 ? { action: 'answer', content, files } : { action: 'answer', content };
}

/** Removes every `<@botId>` / `<@!botId>` and the spacing it leaves behind. */
export function stripMention(content: string, botId: string): string {
  const mention = botMention(botId).source;
  return content
    .replace(new RegExp(`^\\s*${mention}[,:]?`), '')
    .replace(new RegExp(`[ \\t]*${mention}[ \\t]*`, 'g'), ' ')
    .trim();
}

function botMention(botId: string): RegExp {
  return new RegExp(`<@!?${botId}>`);
}

/**
 * Bus ids: a deterministic event id makes a replayed MESSAGE_CREATE a duplicate the journal rejects.
 * `channel` is `discord`, or `discord.<account>` for a bot other than the default one.
 */
export function discordEventId(channelId: string, messageId: string, channel = 'discord'): string {
  return `${channel}:${channelId}:${messageId}`;
}

/** One conversation per channel and bot: a thread is a channel, and a DM channel belongs to one user. */
export function discordSessionId(channelId: string, channel = 'discord'): string {
  return `${channel}:${channelId}`;
}

/** https://discord.com/developers/docs/resources/message#message-object-message-flags: IS_VOICE_MESSAGE. */
const VOICE_MESSAGE_FLAG = 1 << 13;

/** An attachment as the agent fetches it: its kind from the content type (a voice message by the message's flag). */
export function attachmentFile(attachment: { id: string; name: string; contentType: string | null; size: number; url: string }, messageFlags: number): InboundFile {
  const mime = attachment.contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
  const kind: InboundFile['kind'] = mime?.startsWith('image/')
    ? 'image'
    : mime?.startsWith('audio/')
      ? (messageFlags & VOICE_MESSAGE_FLAG ? 'voice' : 'audio')
      : mime?.startsWith('video/')
        ? 'video'
        : 'document';
  return { kind, fileId: attachment.id, name: attachment.name, ...(mime ? { mime } : {}), size: attachment.size, url: attachment.url };
}
