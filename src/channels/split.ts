/**
 * Splits an agent reply (Markdown) into chunks that each fit a platform limit
 * (Telegram 4096, Discord 2000), measured in UTF-16 code units.
 *
 * Cut preference: blank line, line break, space, hard cut. A chunk that ends
 * inside a fenced code block is closed with the fence and the next chunk
 * reopens it with the same info string; both are counted against the limit.
 * A fence line so long that reopening and closing it would take over half of
 * maxLength is treated as text.
 */

interface Fence {
  /** the fence itself, e.g. ``` or ~~~~; the closer must repeat it */
  marker: string;
  /** the opening line without indentation, e.g. ```ts */
  opener: string;
}

interface Line {
  start: number;
  end: number;
  kind: 'text' | 'open' | 'close';
  /** starts like a fence: cutting it mid-line could turn the remaining prefix into one */
  fenceLike: boolean;
  /** the fence open after this line */
  after: Fence | null;
}

const MIN_LENGTH = 16;
const FENCE_LINE = /^[ \t]*(`{3,}|~{3,})(.*)$/;
const SEPARATORS = ['\n\n', '\n', ' '] as const;
// Grapheme extenders: cutting right before one of these detaches it from its base.
const EXTENDER = /^[\p{M}\p{Emoji_Modifier}\u200d\u{E0020}-\u{E007F}]/u;
const MAX_GRAPHEME_BACKOFF = 32;

export function splitMessage(text: string, maxLength: number): string[] {
  if (!Number.isInteger(maxLength) || maxLength < MIN_LENGTH) {
    throw new RangeError(`splitMessage: maxLength must be an integer >= ${MIN_LENGTH}, got ${maxLength}`);
  }
  const src = text.replace(/\r\n?/g, '\n');
  const lines = scanLines(src, maxLength);
  const chunks: string[] = [];
  let open: Fence | null = null;
  let pos = 0;

  for (;;) {
    pos = skipBlank(src, pos);
    if (pos >= src.length) break;
    const first = lines[lineAt(lines, pos)]!;
    if (open && first.kind === 'close' && first.start === pos) {
      // The previous chunk already closed this fence with the same marker.
      pos = first.end;
      open = null;
      continue;
    }
    const prefix = open ? `${open.opener}\n` : '';
    let budget = maxLength - prefix.length;
    for (;;) {
      let cut = chooseCut(src, lines, pos, budget);
      let end = trimEnd(src, pos, cut);
      const last = end > pos ? lines[lineAt(lines, end - 1)]! : null;
      if (last?.kind === 'open' && last.start > pos) {
        // Don't end a chunk on an opener: it would become an empty block.
        cut = last.start;
        end = trimEnd(src, pos, cut);
      }
      const after: Fence | null = end > pos ? lines[lineAt(lines, end - 1)]!.after : open;
      const suffix = after ? `\n${after.marker}` : '';
      const size = prefix.length + (end - pos) + suffix.length;
      if (size > maxLength) {
        budget -= size - maxLength;
        continue;
      }
      if (end > pos) chunks.push(prefix + src.slice(pos, end) + suffix);
      open = after;
      pos = cut;
      break;
    }
  }
  return chunks;
}

/** One pass over the lines: which are fence openers/closers, and which fence is open after each. */
function scanLines(src: string, maxLength: number): Line[] {
  const lines: Line[] = [];
  let open: Fence | null = null;
  let start = 0;
  for (const raw of src.split('\n')) {
    const end = start + raw.length;
    let kind: Line['kind'] = 'text';
    const m = FENCE_LINE.exec(raw);
    if (m) {
      const marker = m[1]!;
      const rest = m[2]!;
      if (open) {
        if (marker[0] === open.marker[0] && marker.length >= open.marker.length && rest.trim() === '') {
          kind = 'close';
          open = null;
        }
      } else if (!(marker[0] === '`' && rest.includes('`'))) {
        const opener = marker + rest.trimEnd();
        // A fence whose reopen + close would eat over half the limit is treated as text.
        if (opener.length + marker.length + 2 <= maxLength / 2) {
          kind = 'open';
          open = { marker, opener };
        }
      }
    }
    lines.push({ start, end, kind, fenceLike: m !== null, after: open });
    start = end + 1;
  }
  return lines;
}

function lineAt(lines: Line[], offset: number): number {
  let lo = 0;
  let hi = lines.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lines[mid]!.start <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Returns the end (exclusive) of a chunk starting at pos that is at most budget long. */
function chooseCut(src: string, lines: Line[], pos: number, budget: number): number {
  const limit = pos + budget;
  if (limit >= src.length) return src.length;
  // A boundary must leave at least a third of the budget used, so chunks stay
  // large and every chunk costs O(budget): the whole split stays O(n).
  const floor = pos + Math.floor(budget / 3);
  const window = src.slice(floor, limit + 2);
  let cut = -1;
  for (const sep of SEPARATORS) {
    let i = window.lastIndexOf(sep, limit - floor);
    // A mid-line cut must not make the next chunk start with a fence it would read as an opener.
    while (sep === ' ' && i >= 0 && fenceAt(src, floor + i) >= 0) i = i > 0 ? window.lastIndexOf(sep, i - 1) : -1;
    if (i >= 0 && floor + i > pos) {
      cut = floor + i;
      break;
    }
  }
  if (cut < 0) cut = hardCut(src, pos, limit);
  const line = lines[lineAt(lines, cut)]!;
  if (!line.fenceLike || cut <= line.start || cut >= line.end) return cut;
  if (line.start > pos) return line.start;
  // The line alone exceeds the budget: cut inside its marker, so this part doesn't read as a fence.
  const marker = fenceAt(src, pos);
  return marker >= 0 ? marker + 2 : cut;
}

function hardCut(src: string, pos: number, limit: number): number {
  for (let c = limit; c > pos && limit - c < MAX_GRAPHEME_BACKOFF; c--) {
    if (isGraphemeBoundary(src, c) && fenceAt(src, c) < 0) return c;
  }
  return isSurrogatePairAt(src, limit - 1) && limit - 1 > pos ? limit - 1 : limit;
}

/** Index of the fence marker that text from c starts with (after indentation), or -1. */
function fenceAt(src: string, c: number): number {
  let i = c;
  while (src[i] === ' ' || src[i] === '\t') i++;
  return src.startsWith('```', i) || src.startsWith('~~~', i) ? i : -1;
}

function isSurrogatePairAt(s: string, i: number): boolean {
  const hi = s.charCodeAt(i);
  const lo = s.charCodeAt(i + 1);
  return hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff;
}

function isRegionalIndicator(cp: number | undefined): boolean {
  return cp !== undefined && cp >= 0x1f1e6 && cp <= 0x1f1ff;
}

/** A cheap approximation of UAX #29: surrogate pairs, ZWJ sequences, extenders, flags. */
function isGraphemeBoundary(s: string, c: number): boolean {
  if (isSurrogatePairAt(s, c - 1)) return false;
  if (s.charCodeAt(c - 1) === 0x200d) return false;
  const cp = s.codePointAt(c);
  if (cp === undefined) return true;
  if (EXTENDER.test(String.fromCodePoint(cp))) return false;
  if (isRegionalIndicator(cp)) {
    let before = 0;
    while (isRegionalIndicator(s.codePointAt(c - 2 * before - 2))) before++;
    return before % 2 === 0;
  }
  return true;
}

function trimEnd(src: string, pos: number, cut: number): number {
  let end = cut;
  while (end > pos && /\s/.test(src[end - 1]!)) end--;
  return end;
}

/** Skips the blank lines at a cut, and the spaces of a cut made mid-line (indentation at a line start stays). */
function skipBlank(src: string, pos: number): number {
  let p = pos;
  if (p > 0 && src[p - 1] !== '\n') while (src[p] === ' ' || src[p] === '\t') p++;
  for (;;) {
    let i = p;
    while (src[i] === ' ' || src[i] === '\t') i++;
    if (i >= src.length) return src.length;
    if (src[i] !== '\n') return p;
    p = i + 1;
  }
}
