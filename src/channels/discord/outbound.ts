import { createHash } from 'node:crypto';
import type { EventSource } from '../../core/events.ts';
import { neutralizeMentions } from './format.ts';

/** Discord's limit for `content`, in UTF-16 code units. */
export const DISCORD_MAX_CONTENT = 2000;
/** https://discord.com/developers/docs/resources/message#create-message: a nonce is at most 25 characters. */
const NONCE_LENGTH = 25;

/** The JSON body of `POST /channels/{id}/messages`, as Discord's REST API spells it. */
export interface CreateMessageBody {
  content: string;
  allowed_mentions: { parse: []; replied_user: false };
  message_reference?: { message_id: string; channel_id: string; fail_if_not_exists: false };
  nonce: string;
  enforce_nonce: true;
}

/**
 * The same chunk of the same reply always gets the same nonce: with `enforce_nonce` Discord answers
 * a repeated create (a replay after a crash, a retry whose answer was lost) with the message it
 * already made instead of posting a second one.
 */
export function messageNonce(eventId: string, part: number | string): string {
  return createHash('sha256').update(`${eventId}#${part}`).digest('hex').slice(0, NONCE_LENGTH);
}

/**
 * One message of a reply: mentions neutralized and never pinging anyone (not even the user it
 * answers); the first one is a reply to the user's message, which may have been deleted meanwhile.
 */
export function createMessageBody(text: string, target: EventSource, nonce: string, quote: boolean): CreateMessageBody {
  return {
    content: neutralizeMentions(text),
    allowed_mentions: { parse: [], replied_user: false },
    ...(quote && target.messageId ? { message_reference: { message_id: target.messageId, channel_id: target.chatId, fail_if_not_exists: false } } : {}),
    nonce,
    enforce_nonce: true,
  };
}

/** The JSON body of `PATCH /channels/{id}/messages/{id}`: new content, still pinging no one. */
export function editMessageBody(text: string): { content: string; allowed_mentions: { parse: [] } } {
  return { content: neutralizeMentions(text), allowed_mentions: { parse: [] } };
}
