import { describe, expect, it } from 'vitest';
import { decideInbound, type TelegramEntity, type TelegramMessage } from '../../../src/channels/telegram/inbound.ts';

const BOT = { id: 900, username: 'MyBot' };
const ALICE = { id: 1, is_bot: false, username: 'alice' };
const GROUP = { id: -100123, type: 'supergroup' };
/** The access decision decideInbound is given: everyone, or only these user ids. */
const EVERYONE = () => true;
const only = (...ids: string[]) => (userId: string) => ids.includes(userId);

/** A message; media keys (photo, sticker…) and service keys can be added as Telegram sends them. */
function msg(over: Partial<TelegramMessage> & Record<string, unknown> = {}): TelegramMessage {
  return { message_id: 10, chat: { id: ALICE.id, type: 'private' }, from: ALICE, text: 'hello', ...over };
}

/** Entities as Telegram detects them: /commands at the start, @mentions anywhere. */
function entities(text: string): TelegramEntity[] {
  const out: TelegramEntity[] = [];
  const command = /^\/[a-z0-9_]+(@\w+)?/i.exec(text);
  if (command) out.push({ type: 'bot_command', offset: 0, length: command[0].length });
  for (const m of text.matchAll(/@\w{5,}/g)) if (!command || m.index >= command[0].length) out.push({ type: 'mention', offset: m.index, length: m[0].length });
  return out;
}

function group(text: string, over: Partial<TelegramMessage> = {}): TelegramMessage {
  return msg({ chat: GROUP, text, entities: entities(text), ...over });
}

function published(message: TelegramMessage, allows: (userId: string) => boolean = EVERYONE) {
  const decision = decideInbound(message, BOT, allows);
  if (decision.kind !== 'publish') throw new Error(`expected publish, got ${JSON.stringify(decision)}`);
  return decision.event;
}

describe('decideInbound: private chats', () => {
  it('publishes every text with an id made of chat and message id, and a per-chat session', () => {
    const event = published(msg({ text: 'what time is it?' }));
    expect(event).toMatchObject({
      id: 'telegram:1:10',
      type: 'inbound',
      sessionId: 'telegram:1',
      content: 'what time is it?',
      retryCount: 0,
      source: { channel: 'telegram', chatId: '1', userId: '1', messageId: '10', chatType: 'private' },
    });
    expect(event.source.threadId).toBeUndefined();
  });

  it('gives the same id to a redelivered message, so the journal refuses the duplicate', () => {
    expect(published(msg()).id).toBe(published(msg()).id);
  });

  it('ignores bots and messages without a sender', () => {
    expect(decideInbound(msg({ from: { id: 5, is_bot: true } }), BOT, EVERYONE)).toMatchObject({ kind: 'ignore' });
    expect(decideInbound(msg({ from: undefined }), BOT, EVERYONE)).toMatchObject({ kind: 'ignore' });
  });

  it('turns a stranger away without publishing, with a refusal allowed', () => {
    expect(decideInbound(msg(), BOT, only('2', '3'))).toMatchObject({ kind: 'stranger', refuse: true, source: { userId: '1' } });
    expect(published(msg(), only('1')).content).toBe('hello');
  });

  it('uses a caption as the content, and answers media it cannot read with the text-only note', () => {
    expect(published(msg({ text: undefined, caption: 'look at this', photo: [] })).content).toBe('look at this');
    expect(decideInbound(msg({ text: undefined, sticker: {} }), BOT, EVERYONE)).toMatchObject({ kind: 'text-only', source: { chatId: '1' } });
    expect(decideInbound(msg({ text: undefined, location: {} }), BOT, EVERYONE)).toMatchObject({ kind: 'text-only' });
  });

  it('carries photos (the largest size Telegram serves), voice notes, audio, video notes and documents as files', () => {
    const photo = [{ file_id: 'small', file_size: 900 }, { file_id: 'big', file_size: 90_000 }, { file_id: 'huge', file_size: 25 * 1_048_576 }];
    expect(published(msg({ text: undefined, photo })).files).toEqual([{ kind: 'image', fileId: 'big', name: 'photo.jpg', mime: 'image/jpeg', size: 90_000 }]);
    expect(published(msg({ text: undefined, voice: { file_id: 'v', mime_type: 'audio/ogg', file_size: 5000 } })).files).toEqual([{ kind: 'voice', fileId: 'v', name: 'voice.ogg', mime: 'audio/ogg', size: 5000 }]);
    expect(published(msg({ text: undefined, audio: { file_id: 'a', mime_type: 'audio/mpeg' } })).files).toEqual([{ kind: 'audio', fileId: 'a', name: 'audio.mp3', mime: 'audio/mpeg' }]);
    expect(published(msg({ text: undefined, video_note: { file_id: 'n' } })).files).toEqual([{ kind: 'video_note', fileId: 'n', name: 'video-note.mp4', mime: 'video/mp4' }]);
    const document = { file_id: 'd', file_name: 'report.pdf', mime_type: 'application/pdf', file_size: 1234 };
    const withCaption = published(msg({ text: undefined, caption: 'summarise this', document }));
    expect(withCaption).toMatchObject({ content: 'summarise this', files: [{ kind: 'document', fileId: 'd', name: 'report.pdf', mime: 'application/pdf', size: 1234 }] });
    // a GIF comes as an animation with a document beside it: not a file to read
    expect(decideInbound(msg({ text: undefined, animation: { file_id: 'g' }, document: { file_id: 'g' } }), BOT, EVERYONE)).toMatchObject({ kind: 'text-only' });
    expect(published(msg({ text: 'no files' })).files).toBeUndefined();
  });

  it('ignores empty text and service messages', () => {
    expect(decideInbound(msg({ text: '' }), BOT, EVERYONE)).toMatchObject({ kind: 'ignore' });
    expect(decideInbound(msg({ text: '   \n ' }), BOT, EVERYONE)).toMatchObject({ kind: 'ignore' });
    expect(decideInbound(msg({ text: undefined, new_chat_members: [] }), BOT, EVERYONE)).toMatchObject({ kind: 'ignore', reason: 'service message' });
  });

  it('keeps NUL, emoji and right-to-left text as they are', () => {
    const text = 'a\u0000b 👩‍👩‍👧 שלום مرحبا';
    expect(published(msg({ text })).content).toBe(text);
  });

  it('ignores a command addressed to another bot, even in private', () => {
    expect(decideInbound(msg({ text: '/help@otherbot', entities: entities('/help@otherbot') }), BOT, EVERYONE)).toMatchObject({ kind: 'ignore' });
  });
});

describe('decideInbound: groups', () => {
  it('ignores a message that neither mentions nor replies to the bot', () => {
    expect(decideInbound(group('just chatting about @someoneelse'), BOT, EVERYONE)).toMatchObject({ kind: 'ignore', reason: 'not addressed to the bot' });
  });

  it('answers a mention (case-insensitive) and strips it from the content', () => {
    expect(published(group('@mybot what is 2+2?')).content).toBe('what is 2+2?');
    expect(published(group('hey @MYBOT, what is 2+2?')).content).toBe('hey, what is 2+2?');
    expect(published(group('@mybot, summarise')).content).toBe('summarise');
    expect(published(group('what do you think @mybot')).content).toBe('what do you think');
    const event = published(group('@mybot hi'));
    expect(event.source).toMatchObject({ chatType: 'group', chatId: '-100123', messageId: '10' });
    expect(event.sessionId).toBe('telegram:-100123');
  });

  it('measures entity offsets in UTF-16 code units, as Telegram does', () => {
    const text = '👩‍👩‍👧 @mybot hi';
    expect(published(group(text)).content).toBe('👩‍👩‍👧 hi');
  });

  it('answers a text_mention of the bot (a user without a username link), not of someone else', () => {
    const text = 'Bot please help';
    expect(published(msg({ chat: GROUP, text, entities: [{ type: 'text_mention', offset: 0, length: 3, user: { id: BOT.id } }] })).content).toBe('please help');
    expect(decideInbound(msg({ chat: GROUP, text, entities: [{ type: 'text_mention', offset: 0, length: 3, user: { id: 77 } }] }), BOT, EVERYONE)).toMatchObject({ kind: 'ignore' });
  });

  it('answers a reply to one of the bot’s messages, not a reply to someone else', () => {
    expect(published(group('thanks!', { reply_to_message: { from: { id: BOT.id } } })).content).toBe('thanks!');
    expect(decideInbound(group('thanks!', { reply_to_message: { from: { id: 42 } } }), BOT, EVERYONE)).toMatchObject({ kind: 'ignore' });
  });

  it('answers /commands, bare or addressed to this bot (normalised to /name), not those for another bot', () => {
    expect(published(group('/help')).content).toBe('/help');
    expect(published(group('/help@MyBot')).content).toBe('/help');
    expect(published(group('/session@mybot details')).content).toBe('/session details');
    // an entity list that also marks the @name inside the command as a mention changes nothing
    expect(published(msg({ chat: GROUP, text: '/help@mybot', entities: [...entities('/help@mybot'), { type: 'mention', offset: 5, length: 6 }] })).content).toBe('/help');
    expect(decideInbound(group('/help@otherbot'), BOT, EVERYONE)).toMatchObject({ kind: 'ignore', reason: 'command for another bot' });
  });

  it('does not refuse strangers in groups out loud, and stays silent to strangers it was not addressed by', () => {
    expect(decideInbound(group('@mybot hi'), BOT, only('2'))).toMatchObject({ kind: 'stranger', refuse: false });
    expect(decideInbound(group('hi all'), BOT, only('2'))).toMatchObject({ kind: 'ignore' });
  });

  it('answers media only when addressed: a mention in the caption, or a reply to the bot', () => {
    const caption = '@mybot what is this?';
    expect(published(msg({ chat: GROUP, text: undefined, caption, caption_entities: entities(caption), photo: [] })).content).toBe('what is this?');
    expect(decideInbound(msg({ chat: GROUP, text: undefined, sticker: {} }), BOT, EVERYONE)).toMatchObject({ kind: 'ignore' });
    expect(decideInbound(msg({ chat: GROUP, text: undefined, sticker: {}, reply_to_message: { from: { id: BOT.id } } }), BOT, EVERYONE)).toMatchObject({
      kind: 'text-only',
    });
    expect(decideInbound(msg({ chat: GROUP, text: undefined, caption: '@mybot', caption_entities: entities('@mybot'), photo: [] }), BOT, EVERYONE)).toMatchObject({
      kind: 'text-only',
    });
  });

  it('keys forum topics by thread, but not the reply threads of ordinary groups', () => {
    const forum = { id: -100555, type: 'supergroup', is_forum: true };
    const topic = published(msg({ chat: forum, text: '@mybot hi', entities: entities('@mybot hi'), message_thread_id: 7, is_topic_message: true }));
    expect(topic.sessionId).toBe('telegram:-100555:7');
    expect(topic.source.threadId).toBe('7');
    const reply = published(group('@mybot hi', { message_thread_id: 3 }));
    expect(reply.sessionId).toBe('telegram:-100123');
    expect(reply.source.threadId).toBeUndefined();
  });

  it('ignores channel posts', () => {
    expect(decideInbound(msg({ chat: { id: -1009, type: 'channel' } }), BOT, EVERYONE)).toMatchObject({ kind: 'ignore' });
  });
});
