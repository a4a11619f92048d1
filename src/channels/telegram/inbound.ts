import { createEvent, type EventSource, type InboundEvent, type InboundFile } from '../../core/events.ts';

/** The parts of a Bot API Message this decision reads; grammY's `Message` fits it. */
export interface TelegramMessage {
  message_id: number;
  chat: { id: number; type: string; is_forum?: boolean };
  from?: { id: number; is_bot: boolean; username?: string };
  text?: string;
  entities?: readonly TelegramEntity[];
  caption?: string;
  caption_entities?: readonly TelegramEntity[];
  reply_to_message?: { from?: { id: number } };
  message_thread_id?: number;
  is_topic_message?: boolean;
  media_group_id?: string;
  photo?: readonly TelegramFileRef[];
  voice?: TelegramFileRef;
  audio?: TelegramFileRef;
  video_note?: TelegramFileRef;
  video?: TelegramFileRef;
  document?: TelegramFileRef;
  animation?: TelegramFileRef;
}

/** A PhotoSize, Voice, Audio, VideoNote, Video or Document: the fields every one of them may have. */
export interface TelegramFileRef {
  file_id: string;
  file_size?: number;
  file_name?: string;
  mime_type?: string;
}

export interface TelegramEntity {
  type: string;
  offset: number;
  length: number;
  user?: { id: number };
}

export interface BotIdentity {
  id: number;
  username: string;
}

export type InboundDecision =
  | { kind: 'publish'; event: InboundEvent }
  /** A message with nothing the agent reads (a sticker, a location…) addressed to the bot: answered without the LLM. */
  | { kind: 'text-only'; source: EventSource }
  /** Someone the access policy turns away: logged, no LLM call; `refuse` when a short answer may be sent (private chats). */
  | { kind: 'stranger'; source: EventSource; refuse: boolean }
  | { kind: 'ignore'; reason: string };

/** Message kinds a user sends that carry no text we could read (service messages are not among them). */
const MEDIA_KEYS = ['photo', 'sticker', 'voice', 'video', 'video_note', 'audio', 'animation', 'document', 'contact', 'location', 'venue', 'poll', 'dice'];

/**
 * Which Telegram messages get an answer, and what the agent sees of them. Private chats: every
 * message from an allowed user. Groups: only a mention of the bot, a reply to the bot, or a
 * /command (not one addressed to another bot). The mention is stripped from the content.
 * `files` are the message's (or its whole album's) photos, voice notes and files.
 */
export function decideInbound(
  message: TelegramMessage,
  bot: BotIdentity,
  allows: (userId: string, isPrivate: boolean) => boolean,
  channel = 'telegram',
  files: InboundFile[] = filesOf(message),
): InboundDecision {
  const { from, chat } = message;
  if (!from) return { kind: 'ignore', reason: 'no sender' };
  if (from.is_bot) return { kind: 'ignore', reason: 'sent by a bot' };
  if (chat.type !== 'private' && chat.type !== 'group' && chat.type !== 'supergroup') return { kind: 'ignore', reason: `chat type ${chat.type}` };
  const isPrivate = chat.type === 'private';
  const raw = message.text ?? message.caption;
  const entities = (message.text !== undefined ? message.entities : message.caption_entities) ?? [];
  const hasMedia = MEDIA_KEYS.some((key) => key in message);
  if (raw === undefined && !hasMedia) return { kind: 'ignore', reason: 'service message' };
  const text = raw ?? '';

  const command = leadingCommand(text, entities);
  if (command?.target && command.target.toLowerCase() !== bot.username.toLowerCase()) return { kind: 'ignore', reason: 'command for another bot' };
  const mentions = entities.filter((e) => isBotMention(e, text, bot) && !(command && e.offset < command.length));
  const repliesToBot = message.reply_to_message?.from?.id === bot.id;
  if (!isPrivate && mentions.length === 0 && !repliesToBot && !command) return { kind: 'ignore', reason: 'not addressed to the bot' };

  const source = sourceOf(message, from.id, channel);
  if (!allows(String(from.id), isPrivate)) return { kind: 'stranger', source, refuse: isPrivate };

  const content = cleanContent(text, mentions, command);
  if (content === '' && files.length === 0) return hasMedia ? { kind: 'text-only', source } : { kind: 'ignore', reason: 'empty text' };
  return {
    kind: 'publish',
    event: createEvent<InboundEvent>({
      // derived from the platform's ids: a redelivered update is a duplicate the journal refuses
      id: `${channel}:${chat.id}:${message.message_id}`,
      type: 'inbound',
      sessionId: sessionIdOf(source),
      source,
      content,
      retryCount: 0,
      ...(files.length > 0 ? { files } : {}),
    }),
  };
}

/** Telegram's getFile serves files up to 20 MB: of a photo's sizes, the largest under it. */
const GET_FILE_LIMIT = 20 * 1_048_576;

/** The files of one message, as the agent will fetch them; an animation (a GIF) is not one. */
export function filesOf(message: TelegramMessage): InboundFile[] {
  const file = (kind: InboundFile['kind'], ref: TelegramFileRef, name: string, mime?: string): InboundFile => {
    const type = ref.mime_type ?? mime;
    return { kind, fileId: ref.file_id, name: ref.file_name ?? name, ...(type ? { mime: type } : {}), ...(ref.file_size !== undefined ? { size: ref.file_size } : {}) };
  };
  if (message.animation) return [];
  const files: InboundFile[] = [];
  if (message.photo?.length) {
    const fitting = message.photo.filter((size) => (size.file_size ?? 0) <= GET_FILE_LIMIT);
    files.push(file('image', (fitting.length > 0 ? fitting : message.photo).at(-1)!, 'photo.jpg', 'image/jpeg'));
  }
  if (message.voice) files.push(file('voice', message.voice, 'voice.ogg', 'audio/ogg'));
  if (message.audio) files.push(file('audio', message.audio, `audio${extensionOf(message.audio.mime_type)}`));
  if (message.video_note) files.push(file('video_note', message.video_note, 'video-note.mp4', 'video/mp4'));
  if (message.video) files.push(file('video', message.video, 'video.mp4'));
  if (message.document) files.push(file('document', message.document, 'file'));
  return files;
}

/** For an audio file sent without a name: transcription endpoints tell the format by the extension. */
const AUDIO_EXTENSIONS: Readonly<Record<string, string>> = {
  'audio/mpeg': '.mp3', 'audio/mp4': '.m4a', 'audio/x-m4a': '.m4a', 'audio/ogg': '.ogg', 'audio/wav': '.wav', 'audio/x-wav': '.wav', 'audio/flac': '.flac', 'audio/webm': '.webm',
};

function extensionOf(mime: string | undefined): string {
  return (mime && AUDIO_EXTENSIONS[mime]) ?? '';
}

/** `telegram:<chat_id>`, plus `:<message_thread_id>` in a forum topic. */
/**
 * `telegram:<chat_id>` (`telegram.<account>:<chat_id>` for a bot other than the default one), plus
 * `:<message_thread_id>` in a forum topic: two bots in one group are two conversations.
 */
export function sessionIdOf(source: EventSource): string {
  return source.threadId ? `${source.channel}:${source.chatId}:${source.threadId}` : `${source.channel}:${source.chatId}`;
}

function sourceOf(message: TelegramMessage, userId: number, channel: string): EventSource {
  // message_thread_id is also set on replies in ordinary groups; only forum topics are threads of their own
  const topic = message.is_topic_message && message.message_thread_id !== undefined ? String(message.message_thread_id) : undefined;
  return {
    channel,
    chatId: String(message.chat.id),
    userId: String(userId),
    messageId: String(message.message_id),
    ...(topic ? { threadId: topic } : {}),
    chatType: message.chat.type === 'private' ? 'private' : 'group',
  };
}

interface Command {
  /** `/help@name`: the entity's range, to drop the @name part. */
  offset: number;
  length: number;
  name: string;
  target?: string;
}

function leadingCommand(text: string, entities: readonly TelegramEntity[]): Command | undefined {
  const entity = entities.find((e) => e.type === 'bot_command' && e.offset === 0);
  if (!entity) return undefined;
  const [name = '', target] = text.slice(1, entity.length).split('@');
  return { offset: entity.offset, length: entity.length, name, ...(target ? { target } : {}) };
}

function isBotMention(entity: TelegramEntity, text: string, bot: BotIdentity): boolean {
  if (entity.type === 'text_mention') return entity.user?.id === bot.id;
  if (entity.type !== 'mention') return false;
  return text.slice(entity.offset, entity.offset + entity.length).toLowerCase() === `@${bot.username.toLowerCase()}`;
}

/** Drops the bot's mentions (with one space next to each) and the @botname of a command. */
function cleanContent(text: string, mentions: readonly TelegramEntity[], command: Command | undefined): string {
  const cuts = mentions.map((e) => {
    let start = e.offset;
    let end = e.offset + e.length;
    if (text[end] === ' ') end++;
    else if (text[start - 1] === ' ') start--;
    return { start, end, with: '' };
  });
  if (command?.target) cuts.push({ start: command.offset, end: command.offset + command.length, with: `/${command.name}` });
  let out = text;
  // right to left, so earlier offsets (UTF-16 code units, like JS strings) stay valid
  for (const cut of cuts.sort((a, b) => b.start - a.start)) out = out.slice(0, cut.start) + cut.with + out.slice(cut.end);
  out = out.trim();
  // "@bot, what's up" → "what's up"
  return mentions.some((e) => e.offset === 0) ? out.replace(/^[,:;]\s*/, '') : out;
}
