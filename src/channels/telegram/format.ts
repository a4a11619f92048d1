/**
 * Renders the Markdown an LLM writes to Telegram's HTML subset
 * (https://core.telegram.org/bots/api#html-style). Output is always well formed:
 * every tag is emitted in matched pairs and all other text is escaped.
 */

type Delim = '**' | '__' | '*' | '_' | '~~';

type Token =
  | { kind: 'html'; html: string }
  | { kind: 'delim'; delim: Delim; canOpen: boolean; canClose: boolean; pair?: 'open' | 'close' };

const TAG: Record<Delim, string> = { '**': 'b', __: 'b', '*': 'i', _: 'i', '~~': 's' };
const FENCE_OPEN = /^([ \t]*)(`{3,}|~{3,})(.*)$/;
const LANGUAGE = /^[\w+#.-]{1,32}$/;
const HEADING = /^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const BULLET = /^([ \t]*)[-*+][ \t]+(.*)$/;
const QUOTE = /^[ \t]*>/;
const QUOTE_MARKS = /^[ \t]*(?:>[ \t]?)+/;
const ASCII_PUNCT = /[!-/:-@[-`{-~]/;
const WHITESPACE = /\s/u;
const PUNCT = /[\p{P}\p{S}]/u;
const ALLOWED_URL = /^(?:https?:\/\/|tg:\/\/|mailto:)/i;
const LINK_TARGET = /\(\s*(<[^<>\n]*>|(?:[^\s()]|\([^\s()]*\))+)(?:\s+(?:"[^"\n]*"|'[^'\n]*'))?\s*\)/y;
const AUTOLINK = /<((?:https?|tg):\/\/[^\s<>]+|mailto:[^\s<>]+)>/y;
const BARE_URL = /https?:\/\/[^\s<>]*[^\s<>*_~`.,;:!?'")\]]/y;

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function markdownToTelegramHtml(markdown: string): string {
  try {
    return renderBlocks(markdown.replace(/\r\n?/g, '\n').split('\n'));
  } catch {
    // Delivery must not fail on a formatting bug: plain escaped text is still a valid message.
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
      // An unclosed fence runs to the end, as in CommonMark.
      while (++i < lines.length && !isCloser(lines[i]!, marker)) body.push(dedent(lines[i]!, indent.length));
      out.push(renderPre(info.trim().split(/\s/)[0] ?? '', body.join('\n')));
      continue;
    }
    if (QUOTE.test(line)) {
      const quoted: string[] = [];
      for (; i < lines.length && QUOTE.test(lines[i]!); i++) quoted.push(renderLine(lines[i]!.replace(QUOTE_MARKS, '')));
      i--;
      out.push(`<blockquote>${quoted.join('\n')}</blockquote>`);
      continue;
    }
    out.push(renderLine(line));
  }
  return out.join('\n');
}

function isCloser(line: string, marker: string): boolean {
  const m = /^[ \t]*(`{3,}|~{3,})[ \t]*$/.exec(line);
  return m !== null && m[1]![0] === marker[0] && m[1]!.length >= marker.length;
}

function dedent(line: string, width: number): string {
  let n = 0;
  while (n < width && line[n] === ' ') n++;
  return line.slice(n);
}

function renderPre(language: string, code: string): string {
  const cls = LANGUAGE.test(language) ? ` class="language-${escapeHtml(language)}"` : '';
  return `<pre><code${cls}>${escapeHtml(code)}</code></pre>`;
}

function renderLine(line: string): string {
  const heading = HEADING.exec(line);
  if (heading) return `<b>${renderInline(heading[1]!, true)}</b>`;
  if (RULE.test(line)) return '———';
  const bullet = BULLET.exec(line);
  if (bullet) return `${bullet[1]}• ${renderInline(bullet[2]!, true)}`;
  return renderInline(line, true);
}

/** Inline Markdown of one line: tokens first, then emphasis pairing with a delimiter stack. */
function renderInline(s: string, allowLinks: boolean): string {
  const tokens = tokenize(s, allowLinks);
  pairDelimiters(tokens);
  let html = '';
  for (const t of tokens) {
    if (t.kind === 'html') html += t.html;
    else if (t.pair) html += t.pair === 'open' ? `<${TAG[t.delim]}>` : `</${TAG[t.delim]}>`;
    else html += t.delim;
  }
  return html;
}

function tokenize(s: string, allowLinks: boolean): Token[] {
  const tokens: Token[] = [];
  const failedRuns = new Set<number>();
  let bracket = -1;
  let text = '';
  const flush = (): void => {
    if (text) tokens.push({ kind: 'html', html: escapeHtml(text) });
    text = '';
  };
  const html = (markup: string): void => {
    flush();
    tokens.push({ kind: 'html', html: markup });
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length && ASCII_PUNCT.test(s[i + 1]!)) {
      text += s[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      const run = runLength(s, i);
      const close = failedRuns.has(run) ? -1 : findRun(s, i + run, run);
      if (close < 0) {
        failedRuns.add(run);
        text += s.slice(i, i + run);
      } else {
        html(`<code>${escapeHtml(stripOneSpace(s.slice(i + run, close)))}</code>`);
      }
      i = close < 0 ? i + run : close + run;
      continue;
    }
    if (c === '[' && allowLinks) {
      if (bracket < i) bracket = s.indexOf(']', i + 1);
      const link = bracket < 0 ? null : matchLink(s, i, bracket);
      if (link) {
        if (ALLOWED_URL.test(link.url)) {
          const label = link.label.trim() ? renderInline(link.label, false) : escapeHtml(link.url);
          html(`<a href="${escapeHtml(link.url)}">${label}</a>`);
        } else {
          text += s.slice(i, link.end);
        }
        i = link.end;
        continue;
      }
    }
    const auto = c === '<' && allowLinks ? sticky(AUTOLINK, s, i) : null;
    if (auto) {
      html(`<a href="${escapeHtml(auto[1]!)}">${escapeHtml(auto[1]!)}</a>`);
      i += auto[0].length;
      continue;
    }
    // Bare URLs stay literal so an underscore in a path never turns into italics.
    const bare = c === 'h' ? sticky(BARE_URL, s, i) : null;
    if (bare) {
      text += bare[0];
      i += bare[0].length;
      continue;
    }
    if (c === '*' || c === '_' || c === '~') {
      const run = runLength(s, i);
      const delims = splitRun(s, i, run);
      if (delims.length === 0) text += s.slice(i, i + run);
      flush();
      tokens.push(...delims);
      i += run;
      continue;
    }
    text += c;
    i++;
  }
  flush();
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

function matchLink(s: string, i: number, close: number): { label: string; url: string; end: number } | null {
  if (s[close + 1] !== '(') return null;
  const m = sticky(LINK_TARGET, s, close + 1);
  if (!m) return null;
  const url = m[1]!.replace(/^<|>$/g, '');
  return { label: s.slice(i + 1, close), url, end: close + 1 + m[0].length };
}

/** Emphasis delimiters of a run, with CommonMark's flanking rules; [] when the run is literal. */
function splitRun(s: string, i: number, run: number): Token[] {
  const ch = s[i]!;
  const prev = charBefore(s, i);
  const next = charAfter(s, i + run);
  const left = !WHITESPACE.test(next) && (!PUNCT.test(next) || WHITESPACE.test(prev) || PUNCT.test(prev));
  const right = !WHITESPACE.test(prev) && (!PUNCT.test(prev) || WHITESPACE.test(next) || PUNCT.test(next));
  let canOpen = left;
  let canClose = right;
  // `_` never works inside a word (snake_case); `*` does, except between digits (2*3*4).
  if (ch === '_') {
    canOpen = left && (!right || PUNCT.test(prev));
    canClose = right && (!left || PUNCT.test(next));
  } else if (ch === '*' && run === 1 && /\d/.test(prev) && /\d/.test(next)) {
    return [];
  }
  if (!canOpen && !canClose) return [];
  const make = (delim: Delim): Token => ({ kind: 'delim', delim, canOpen, canClose });
  if (ch === '~') return run === 2 ? [make('~~')] : [];
  const single = ch as '*' | '_';
  const double = `${single}${single}` as '**' | '__';
  if (run === 1) return [make(single)];
  if (run === 2) return [make(double)];
  if (run === 3) return canOpen ? [make(single), make(double)] : [make(double), make(single)];
  return [];
}

function charBefore(s: string, i: number): string {
  if (i === 0) return ' ';
  const lo = s.charCodeAt(i - 1);
  const start = lo >= 0xdc00 && lo <= 0xdfff && i >= 2 ? i - 2 : i - 1;
  return String.fromCodePoint(s.codePointAt(start)!);
}

function charAfter(s: string, i: number): string {
  return i >= s.length ? ' ' : String.fromCodePoint(s.codePointAt(i)!);
}

/** Pairs each closer with the nearest opener of its kind; openers in between become literal, so tags nest. */
function pairDelimiters(tokens: Token[]): void {
  const stack: number[] = [];
  const openCount = new Map<Delim, number>();
  tokens.forEach((t, k) => {
    if (t.kind !== 'delim') return;
    if (t.canClose && (openCount.get(t.delim) ?? 0) > 0) {
      let s = stack.length - 1;
      while ((tokens[stack[s]!] as Extract<Token, { kind: 'delim' }>).delim !== t.delim) s--;
      const opener = tokens[stack[s]!] as Extract<Token, { kind: 'delim' }>;
      for (const idx of stack.splice(s)) {
        const d = (tokens[idx] as Extract<Token, { kind: 'delim' }>).delim;
        openCount.set(d, openCount.get(d)! - 1);
      }
      opener.pair = 'open';
      t.pair = 'close';
    } else if (t.canOpen) {
      stack.push(k);
      openCount.set(t.delim, (openCount.get(t.delim) ?? 0) + 1);
    }
  });
}
