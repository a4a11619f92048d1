import type { EventSource } from '../core/events.ts';
import { discordSessionId } from '../channels/discord/inbound.ts';
import { sessionIdOf } from '../channels/telegram/inbound.ts';

export interface JobTarget {
  sessionId: string;
  target: EventSource;
}

/**
 * The chat a job written by hand (a schedules/ file, an owner's `chat` argument) goes to, from the
 * session id `/session` shows: `telegram:<chat id>`, `telegram:<chat id>:<topic id>`,
 * `discord:<channel id>`. A Telegram private chat's id is its user's, so a job there runs on their
 * behalf (limits, memory); a Discord id does not tell a DM from a server channel, so a job there
 * runs as in a group: no one's private memory. Throws an Error saying what is accepted.
 */
export function targetOf(session: string): JobTarget {
  const telegram = /^telegram:(-?\d+)(?::(\d+))?$/.exec(session.trim());
  if (telegram) {
    const [, chatId, threadId] = telegram as unknown as [string, string, string | undefined];
    const isPrivate = !chatId.startsWith('-');
    const target: EventSource = { channel: 'telegram', chatId, ...(threadId ? { threadId } : {}), ...(isPrivate ? { userId: chatId, chatType: 'private' } : { chatType: 'group' }) };
    return { sessionId: sessionIdOf(target), target };
  }
  const discord = /^discord:(\d{5,25})$/.exec(session.trim());
  if (discord) {
    const chatId = discord[1]!;
    return { sessionId: discordSessionId(chatId), target: { channel: 'discord', chatId, chatType: 'group' } };
  }
  throw new Error(`'${session}' is not a chat: write it as /session shows it, like telegram:123456789, telegram:-1001234567890:7 (a topic) or discord:123456789012345678`);
}
