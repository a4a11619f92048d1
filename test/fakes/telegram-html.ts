/**
 * Message text as the Bot API sees it: the HTML parse mode (only Telegram's tag subset, balanced
 * tags, the four named entities plus numeric ones: https://core.telegram.org/bots/api#html-style),
 * the length limit after parsing, and the entities Telegram detects in what users write.
 * Error offsets are bytes of UTF-8 (as Telegram reports them); entity offsets and lengths and the
 * length limit are UTF-16 code units (as Telegram counts them).
 */

export type TelegramEntity = {
  type: string;
  offset: number;
  length: number;
  url?: string;
  language?: string;
  custom_emoji_id?: string;
};

export const MAX_TEXT = 4096;

/** The Bot API's description after "Bad Request: ", e.g. "message is too long". */
export class BadText extends Error {
  override name = 'BadText';
}

class HtmlError extends BadText {
  constructor(what: string) {
    super(`can't parse entities: ${what}`);
  }
}

const TAGS: Record<string, string> = {
  b: 'bold',
  strong: 'bold',
  i: 'italic',
  em: 'italic',
  u: 'underline',
  ins: 'underline',
  s: 'strikethrough',
  strike: 'strikethrough',
  del: 'strikethrough',
  code: 'code',
  pre: 'pre',
  a: 'text_link',
  span: 'spoiler',
  'tg-spoiler': 'spoiler',
  blockquote: 'blockquote',
  'tg-emoji': 'custom_emoji',
};

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };
const ENTITY = /^&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,7})|(lt|gt|amp|quot));/;
const ATTR = /([a-zA-Z][a-zA-Z0-9-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/y;

type Open = { tag: string; start: number; attrs: Record<string, string>; language?: string };

/** Decodes one entity at html[i] ('&'): [character, length consumed], or undefined. */
function decodeEntity(html: string, i: number): [string, number] | undefined {
  const m = ENTITY.exec(html.slice(i, i + 16));
  if (!m) return undefined;
  if (m[3] !== undefined) return [NAMED[m[3]] as string, m[0].length];
  const code = m[1] !== undefined ? Number(m[1]) : parseInt(m[2] as string, 16);
  if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return undefined;
  return [String.fromCodePoint(code), m[0].length];
}

function decodeLenient(value: string): string {
  return value.replace(/&[^;\s]{1,10};/g, (e) => decodeEntity(e, 0)?.[0] ?? e);
}

function parseAttrs(src: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  ATTR.lastIndex = 0;
  for (let i = 0; i < src.length; ) {
    if (/\s/.test(src[i] as string)) {
      i++;
      continue;
    }
    ATTR.lastIndex = i;
    const m = ATTR.exec(src);
    if (!m) break;
    attrs[(m[1] as string).toLowerCase()] = decodeLenient(m[2] ?? m[3] ?? m[4] ?? '');
    i = ATTR.lastIndex;
  }
  return attrs;
}

/** Index of the '>' closing the tag that starts at html[i] ('<'), skipping quoted values; -1 if none. */
function tagEnd(html: string, i: number): number {
  let quote = '';
  for (let j = i + 1; j < html.length; j++) {
    const c = html[j];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '>') return j;
  }
  return -1;
}

function toEntity(open: Open, end: number): TelegramEntity | undefined {
  const offset = open.start;
  const length = end - open.start;
  if (length === 0) return undefined; // Telegram drops empty entities
  const type = TAGS[open.tag] as string;
  switch (type) {
    case 'text_link':
      return open.attrs.href ? { type, offset, length, url: open.attrs.href } : undefined;
    case 'custom_emoji':
      return { type, offset, length, custom_emoji_id: open.attrs['emoji-id'] ?? '' };
    case 'pre':
      return open.language ? { type, offset, length, language: open.language } : { type, offset, length };
    case 'blockquote':
      return { type: 'expandable' in open.attrs ? 'expandable_blockquote' : type, offset, length };
    default:
      return { type, offset, length };
  }
}

/** Parses Telegram HTML into plain text and entities; throws BadText like the Bot API. */
export function parseTelegramHtml(html: string): { text: string; entities: TelegramEntity[] } {
  const byteOffset = (i: number): number => Buffer.byteLength(html.slice(0, i));
  const stack: Open[] = [];
  const entities: TelegramEntity[] = [];
  let text = '';
  let i = 0;
  while (i < html.length) {
    const c = html[i] as string;
    if (c === '&') {
      const decoded = decodeEntity(html, i);
      if (!decoded) throw new HtmlError(`Character '&' at byte offset ${byteOffset(i)} must be escaped as &amp;`);
      text += decoded[0];
      i += decoded[1];
      continue;
    }
    if (c !== '<') {
      text += c;
      i++;
      continue;
    }
    const end = tagEnd(html, i);
    if (end < 0) throw new HtmlError(`Unclosed start tag at byte offset ${byteOffset(i)}`);
    const inner = html.slice(i + 1, end);
    if (inner.startsWith('/')) {
      const name = inner.slice(1).trim().toLowerCase();
      const open = stack.pop();
      if (!open) throw new HtmlError(`Unexpected end tag at byte offset ${byteOffset(i)}`);
      if (open.tag !== name) {
        throw new HtmlError(
          `Unmatched end tag at byte offset ${byteOffset(i)}, expected "</${open.tag}>", found "</${name}>"`,
        );
      }
      const parent = stack[stack.length - 1];
      const language = /^language-(.+)$/.exec(open.attrs.class ?? '')?.[1];
      if (open.tag === 'code' && parent?.tag === 'pre' && language) parent.language = language;
      else {
        const entity = toEntity(open, text.length);
        if (entity) entities.push(entity);
      }
    } else {
      const name = (/^[a-zA-Z0-9-]*/.exec(inner)?.[0] ?? '').toLowerCase();
      if (!(name in TAGS)) throw new HtmlError(`Unsupported start tag "${name}" at byte offset ${byteOffset(i)}`);
      const attrs = parseAttrs(inner.slice(name.length));
      if (name === 'span' && attrs.class !== 'tg-spoiler') {
        throw new HtmlError(`Tag "span" must have class "tg-spoiler" at byte offset ${byteOffset(i)}`);
      }
      stack.push({ tag: name, start: text.length, attrs });
    }
    i = end + 1;
  }
  const unclosed = stack.pop();
  if (unclosed) throw new HtmlError(`Can't find end tag corresponding to start tag "${unclosed.tag}"`);
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
  return { text, entities };
}

/** The text and entities of sendMessage/editMessageText after parsing; throws BadText as Telegram would. */
export function parseMessageText(
  raw: string,
  parseMode: string | undefined,
  entities: TelegramEntity[] = [],
): { text: string; entities: TelegramEntity[] } {
  const mode = parseMode?.toLowerCase() ?? '';
  if (!['', 'html', 'markdown', 'markdownv2'].includes(mode)) throw new BadText('unsupported parse_mode');
  // Markdown modes are passed through unchecked.
  const parsed = mode === 'html' ? parseTelegramHtml(raw) : { text: raw, entities };
  if (parsed.text.trim() === '') throw new BadText('message text is empty');
  if (parsed.text.length > MAX_TEXT) throw new BadText('message is too long');
  return parsed;
}

/** Entities Telegram detects by itself in what users write: a leading /command, @mentions. */
export function detectEntities(text: string): TelegramEntity[] {
  const found: TelegramEntity[] = [];
  const command = /^\/[a-zA-Z0-9_]{1,32}(?:@[a-zA-Z0-9_]{5,32})?/.exec(text);
  if (command) found.push({ type: 'bot_command', offset: 0, length: command[0].length });
  for (const m of text.matchAll(/(?<![\w@])@[a-zA-Z0-9_]{5,32}/g)) {
    const inCommand = command !== null && (m.index ?? 0) < command[0].length;
    if (!inCommand) found.push({ type: 'mention', offset: m.index ?? 0, length: m[0].length });
  }
  return found;
}
