/**
 * Renders the Markdown an LLM writes to Telegram's HTML subset
 * (https://core.telegram.org/bots/api#html-style). The output is always well
 * formed: tags are only emitted in matched, nested pairs; all text is escaped.
 */

type Delim = '**' | '__' | '*' | '_' | '~~';

interface Delimiter {
  delim: Delim;
  canOpen: boolean;
  canClose: boolean;
  /** on the first of the two tokens a `***` run becomes: the second */
  partner?: Delimiter;
  pair?: 'open' | 'close';
}

/** Rendered HTML, or an emphasis delimiter waiting to be paired. */
type Token = string | Delimiter;

const TAG: Record<Delim, string> = { '**': 'b', __: 'b', '*': 'i', _: 'i', '~~': 's' };
const FENCE_OPEN = /^([ \t]*)(`{3,}|~{3,})(.*)$/;
const FENCE_CLOSE = /^[ \t]*(`{3,}|~{3,})[ \t]*$/;
const LANGUAGE = /^[\w+#.-]{1,32}$/;
const HEADING = /^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const BULLET = /^([ \t]*)[-*+][ \t]+(.*)$/;
const QUOTE = /^[ \t]*>/;
const QUOTE_MARKS = /^[ \t]*(?:>[ \t]?)+/;
const ASCII_PUNCT = /[!-/:-@[-`{-~]/;
const SPACE = /\s/u;
const PUNCT = /[\p{P}\p{S}]/u;
const ALLOWED_URL = /^(?:https?:\/\/|tg:\/\/|mailto:)/i;
const LINK_TARGET = /\(\s*(<[^<>"\n]*>|(?:[^\s()<>"]|\([^\s()<>"]*\))+)(?:\s+(?:"[^"\n]*"|'[^'\n]*'))?\s*\)/y;
const AUTOLINK = /<((?:https?|tg):\/\/[^\s<>]+|mailto:[^\s<>]+)>/y;
const BARE_URL = /https?:\/\/[^\s<>]*[^\s<>*_~`.,;:!?'")\]]/y;

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function markdownToTelegramHtml(markdown: string): string {
  try {
    return renderBlocks(markdown.replace(/\r\n?/g, '\n').split('\n'));
  } catch {
    // Delivery must not fail on a formatting bug: escaped plain text is still a valid message.
    return escapeHtml(markdown);
  }
}

function renderBlocks(lines: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = FENCE_OPEN.exec(line);
    if (fence && !(fence[2]!.startsWith('`') && fence[3]!.includes('`'))) {
      const [, indent = '', marker = '', info = ''] = fence;
      const body: string[] = [];
      const outdent = new RegExp(`^ {0,${indent.length}}`);
      // An unclosed fence runs to the end, as in CommonMark.
      while (++i < lines.length && !isCloser(lines[i]!, marker)) body.push(lines[i]!.replace(outdent, ''));
      const language = info.trim().split(/\s/)[0] ?? '';
      const cls = LANGUAGE.test(language) ? ` class="language-${escapeHtml(language)}"` : '';
      out.push(`<pre><code${cls}>${escapeHtml(body.join('\n'))}</code></pre>`);
    } else if (QUOTE.test(line)) {
      const quoted: string[] = [];
      for (; i < lines.length && QUOTE.test(lines[i]!); i++) quoted.push(renderLine(lines[i]!.replace(QUOTE_MARKS, '')));
      i--;
      out.push(`<blockquote>${quoted.join('\n')}</blockquote>`);
    } else {
      out.push(renderLine(line));
    }
  }
  return out.join('\n');
}

function isCloser(line: string, marker: string): boolean {
  const m = FENCE_CLOSE.exec(line);
  return m !== null && m[1]![0] === marker[0] && m[1]!.length >= marker.length;
}

function renderLine(line: string): string {
  const heading = HEADING.exec(line);
  // `## **Summary**` is common; unwrap it rather than nest <b> in <b>.
  if (heading) return `<b>${renderInline(heading[1]!.replace(/^(\*\*|__)(.+)\1$/, '$2'), true)}</b>`;
  if (RULE.test(line)) return '———';
  const bullet = BULLET.exec(line);
  if (bullet) return `${bullet[1]}• ${renderInline(bullet[2]!, true)}`;
  return renderInline(line, true);
}

function renderInline(s: string, allowLinks: boolean): string {
  const tokens = tokenize(s, allowLinks);
  pairDelimiters(tokens);
  let html = '';
  for (const t of tokens) {
    if (typeof t === 'string') html += t;
    else if (t.pair) html += t.pair === 'open' ? `<${TAG[t.delim]}>` : `</${TAG[t.delim]}>`;
    else html += t.delim;
  }
  return html;
}

function tokenize(s: string, allowLinks: boolean): Token[] {
  const tokens: Token[] = [];
  const failedRuns = new Set<number>(); // backtick run lengths with no closer left: keeps it linear
  const bracket = { at: -1 }; // the next ']', cached so '[[[[' stays linear
  let text = '';
  const emit = (...t: Token[]): void => {
    if (text) tokens.push(escapeHtml(text));
    text = '';
    tokens.push(...t);
  };
  for (let i = 0; i < s.length; ) {
    const c = s[i]!;
    if (c === '\\' && ASCII_PUNCT.test(s[i + 1] ?? '')) {
      text += s[i + 1];
      i += 2;
    } else if (c === '`') {
      const run = runLength(s, i);
      const close = failedRuns.has(run) ? -1 : findRun(s, i + run, run);
      if (close < 0) {
        failedRuns.add(run);
        text += s.slice(i, i + run);
      } else {
        emit(`<code>${escapeHtml(stripOneSpace(s.slice(i + run, close)))}</code>`);
      }
      i = close < 0 ? i + run : close + run;
    } else if (c === '*' || c === '_' || c === '~') {
      const run = runLength(s, i);
      const delims = delimiters(s, i, run);
      if (delims.length > 0) emit(...delims);
      else text += s.slice(i, i + run);
      i += run;
    } else {
      const link = readLink(s, i, allowLinks, bracket);
      if (link?.html) emit(link.html);
      else text += s.slice(i, link?.end ?? i + 1);
      i = link?.end ?? i + 1;
    }
  }
  emit();
  return tokens;
}

function sticky(re: RegExp, s: string, i: number): RegExpExecArray | null {
  re.lastIndex = i;
  return re.exec(s);
}

function runLength(s: string, i: number): number {
  let j = i;
  while (s[j] === s[i]) j++;
  return j - i;
}

/** Index of the next run of exactly `run` backticks at or after `from`, or -1. */
function findRun(s: string, from: number, run: number): number {
  for (let j = s.indexOf('`', from); j >= 0; j = s.indexOf('`', j)) {
    const len = runLength(s, j);
    if (len === run) return j;
    j += len;
  }
  return -1;
}

function stripOneSpace(code: string): string {
  return code.length > 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim() ? code.slice(1, -1) : code;
}

/** A link, autolink or bare URL at i: html to emit, or only an end when it stays literal text. */
function readLink(s: string, i: number, allowLinks: boolean, bracket: { at: number }): { html?: string; end: number } | null {
  const c = s[i];
  if (c === '[' && allowLinks) {
    if (bracket.at < i) bracket.at = s.indexOf(']', i + 1);
    const m = bracket.at > i && s[bracket.at + 1] === '(' ? sticky(LINK_TARGET, s, bracket.at + 1) : null;
    if (!m) return null;
    const url = m[1]!.replace(/^<|>$/g, '');
    const end = bracket.at + 1 + m[0].length;
    if (!ALLOWED_URL.test(url)) return { end };
    const label = s.slice(i + 1, bracket.at);
    return { end, html: `<a href="${escapeHtml(url)}">${label.trim() ? renderInline(label, false) : escapeHtml(url)}</a>` };
  }
  const auto = c === '<' && allowLinks ? sticky(AUTOLINK, s, i) : null;
  if (auto) return { end: i + auto[0].length, html: `<a href="${escapeHtml(auto[1]!)}">${escapeHtml(auto[1]!)}</a>` };
  // Bare URLs stay literal, so an underscore in a path never turns into italics.
  const bare = c === 'h' ? sticky(BARE_URL, s, i) : null;
  return bare ? { end: i + bare[0].length } : null;
}

/** The emphasis delimiters of a run, by CommonMark's flanking rules; [] when the run is literal. */
function delimiters(s: string, i: number, run: number): Delimiter[] {
  const ch = s[i]!;
  const lo = s.charCodeAt(i - 1);
  const prev = i === 0 ? ' ' : String.fromCodePoint(s.codePointAt(lo >= 0xdc00 && lo <= 0xdfff && i >= 2 ? i - 2 : i - 1)!);
  const next = i + run >= s.length ? ' ' : String.fromCodePoint(s.codePointAt(i + run)!);
  const left = !SPACE.test(next) && (!PUNCT.test(next) || SPACE.test(prev) || PUNCT.test(prev));
  const right = !SPACE.test(prev) && (!PUNCT.test(prev) || SPACE.test(next) || PUNCT.test(next));
  // `_` never works inside a word (snake_case); `*` does, except between digits (2*3*4).
  const canOpen = ch === '_' ? left && (!right || PUNCT.test(prev)) : left;
  const canClose = ch === '_' ? right && (!left || PUNCT.test(next)) : right;
  if ((!canOpen && !canClose) || (ch === '*' && run === 1 && /\d/.test(prev) && /\d/.test(next))) return [];
  const make = (delim: Delim): Delimiter => ({ delim, canOpen, canClose });
  if (ch === '~') return run === 2 ? [make('~~')] : [];
  const one = ch as '*' | '_';
  const two = `${one}${one}` as '**' | '__';
  if (run === 3) {
    const inner = make(two);
    return [{ ...make(one), partner: inner }, inner];
  }
  return run === 1 ? [make(one)] : run === 2 ? [make(two)] : [];
}

/** Pairs each closer with the nearest opener of its kind; openers in between become literal, so tags nest. */
function pairDelimiters(tokens: Token[]): void {
  const stack: Delimiter[] = [];
  const open = new Map<Delim, number>(); // per kind, so a closer without an opener costs O(1)
  // A `***` run is `*` + `**` in either order: whichever order nests with the other side.
  const swap = (a: Delimiter, b: Delimiter): void => {
    [a.delim, b.delim] = [b.delim, a.delim];
  };
  for (const t of tokens) {
    if (typeof t === 'string') continue;
    const p = t.partner;
    if (p && t.canClose && (open.get(t.delim) || open.get(p.delim))) {
      const top = stack.findLast((d) => d.delim === t.delim || d.delim === p.delim);
      if (top?.delim === p.delim) swap(t, p);
    }
    if (t.canClose && (open.get(t.delim) ?? 0) > 0) {
      let k = stack.length - 1;
      while (stack[k]!.delim !== t.delim) k--;
      if (stack[k]!.partner && stack[k]!.partner === stack[k + 1]) swap(stack[k]!, stack[++k]!);
      stack[k]!.pair = 'open';
      t.pair = 'close';
      for (const d of stack.splice(k)) open.set(d.delim, open.get(d.delim)! - 1);
    } else if (t.canOpen) {
      stack.push(t);
      open.set(t.delim, (open.get(t.delim) ?? 0) + 1);
    }
  }
}
