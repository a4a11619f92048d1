import { describe, it, expect } from 'vitest';
import { splitMessage } from '../../../src/channels/split.ts';

const FENCE_LINE = /^[ \t]*(`{3,}|~{3,})(.*)$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when every fence opened in the chunk is closed again (CommonMark matching
 * rules). Like splitMessage, a fence line too long to reopen and close within
 * half of maxLength counts as text.
 */
function fencesBalanced(chunk: string, maxLength = 4096): boolean {
  let open: string | null = null;
  for (const line of chunk.split('\n')) {
    const m = FENCE_LINE.exec(line);
    if (!m) continue;
    const marker = m[1]!;
    const rest = m[2]!;
    if (open === null) {
      const fits = marker.length + rest.trimEnd().length + marker.length + 2 <= maxLength / 2;
      if (fits && !(marker.startsWith('`') && rest.includes('`'))) open = marker;
    } else if (marker[0] === open[0] && marker.length >= open.length && rest.trim() === '') {
      open = null;
    }
  }
  return open === null;
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa'];

function words(rand: () => number, count: number): string {
  return Array.from({ length: count }, () => WORDS[Math.floor(rand() * WORDS.length)]!).join(' ');
}

function paragraph(rand: () => number): string {
  const lines = 1 + Math.floor(rand() * 4);
  return Array.from({ length: lines }, () => words(rand, 10 + Math.floor(rand() * 15))).join('\n');
}

/**
 * Walks the original alongside the chunks: each chunk, minus a reopened fence
 * line and/or an added closing fence, must follow the previous one in the
 * original with only whitespace in between (what the cuts drop), or a closing
 * fence that the previous chunk's added closer replaced.
 */
function expectReassembles(text: string, chunks: string[]): void {
  // Where the next chunk may start: after whitespace, and maybe after a closing
  // fence that the previous chunk's added closer stood in for.
  const starts = (p: number): number[] => {
    const a = p + /^\s*/.exec(text.slice(p))![0].length;
    const closer = /^(?:`{3,}|~{3,})[ \t]*(?:\n|$)\s*/.exec(text.slice(a));
    return closer ? [a, a + closer[0].length] : [a];
  };
  // Depth-first over the variants: an added closer "```" can also match the
  // start of a real "```py3" line, so the first match is not always the right one.
  const walk = (ci: number, p: number): boolean => {
    const chunk = chunks[ci];
    if (chunk === undefined) return starts(p).some((a) => text.slice(a).trim() === '');
    const lines = chunk.split('\n');
    const variants = [chunk, lines.slice(1).join('\n'), lines.slice(0, -1).join('\n'), lines.slice(1, -1).join('\n')];
    return variants.some((v) =>
      starts(p).some((a) => {
        const at = a - (v.length - v.trimStart().length);
        return v.trim() !== '' && at >= p && text.startsWith(v, at) && walk(ci + 1, at + v.length);
      }),
    );
  };
  expect(walk(0, 0), 'chunks do not reassemble into the original').toBe(true);
}

describe('splitMessage', () => {
  it('returns [] for empty or whitespace-only input', () => {
    expect(splitMessage('', 4096)).toEqual([]);
    expect(splitMessage(' \n\n\t \n', 4096)).toEqual([]);
  });

  it('returns short text as one chunk, trimmed of blank lines but keeping indentation', () => {
    expect(splitMessage('\n\n  hello\n\n', 4096)).toEqual(['  hello']);
    expect(splitMessage('hello', 4096)).toEqual(['hello']);
  });

  it('rejects a limit too small to hold a fence', () => {
    expect(() => splitMessage('x', 4)).toThrow(RangeError);
    expect(() => splitMessage('x', 100.5)).toThrow(RangeError);
  });

  it('splits a 10,000-char reply with a code block into balanced chunks that fit', () => {
    const rand = mulberry32(1);
    const prose = Array.from({ length: 6 }, () => paragraph(rand)).join('\n\n');
    const code = Array.from({ length: 120 }, (_, i) => `  const v${i} = compute(${i}, "${words(rand, 3)}");`).join('\n');
    const text = `${prose}\n\n\`\`\`ts\n${code}\n\`\`\`\n\n${prose}\n\n${prose}`;
    expect(text.length).toBeGreaterThan(10_000);

    const chunks = splitMessage(text, 4096);
    expect(chunks.length).toBeGreaterThan(2);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(4096);
      expect(fencesBalanced(chunk)).toBe(true);
    }
    // The block was cut: the continuation reopens it with its language tag.
    const cont = chunks.findIndex((c) => /^```ts\n {2}const v[1-9]/.test(c));
    expect(cont).toBeGreaterThan(0);
    expect(chunks[cont - 1]!.endsWith('\n```')).toBe(true);

    expectReassembles(text, chunks);
  });

  it('prefers paragraph boundaries', () => {
    const rand = mulberry32(2);
    const paragraphs = Array.from({ length: 40 }, () => paragraph(rand));
    const chunks = splitMessage(paragraphs.join('\n\n'), 2000);
    expect(chunks.length).toBeGreaterThan(3);
    const known = new Set(paragraphs);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(2000);
      for (const p of chunk.split('\n\n')) expect(known.has(p)).toBe(true);
    }
    expect(chunks.join('\n\n')).toBe(paragraphs.join('\n\n'));
    expectReassembles(paragraphs.join('\n\n'), chunks);
  });

  it('prefers line breaks over spaces, and spaces over hard cuts', () => {
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i} ${'x'.repeat(30)}`);
    const chunks = splitMessage(lines.join('\n'), 200);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(200);
      for (const l of chunk.split('\n')) expect(lines).toContain(l);
    }
    const spaced = splitMessage('word '.repeat(100), 32);
    for (const chunk of spaced) expect(chunk).toMatch(/^word( word)*$/);
  });

  it('hard-cuts a single 10,000-char word', () => {
    const word = 'a'.repeat(10_000);
    const chunks = splitMessage(word, 4096);
    expect(chunks.map((c) => c.length)).toEqual([4096, 4096, 1808]);
    expect(chunks.join('')).toBe(word);
  });

  it('never cuts a surrogate pair', () => {
    const text = '😀'.repeat(5000);
    const chunks = splitMessage(text, 4095);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(4095);
      expect(chunk).toMatch(/^(?:😀)+$/u);
    }
    expect(chunks.join('')).toBe(text);
  });

  it('never cuts a ZWJ family emoji, a flag, or a combining mark from its base', () => {
    const cases: Array<[string, number]> = [
      ['👨‍👩‍👧‍👦', 100],
      ['👍🏽', 50],
      ['🇫🇷', 33],
      ['e\u0301', 17],
      ['❤️', 19],
    ];
    for (const [grapheme, max] of cases) {
      const text = grapheme.repeat(3000 / grapheme.length);
      const chunks = splitMessage(text, max);
      for (const chunk of chunks) {
        expect(chunk.length).toBeLessThanOrEqual(max);
        expect(chunk.split(grapheme).join('')).toBe('');
      }
      expect(chunks.join('')).toBe(text);
    }
  });

  it('reopens ~~~ fences and keeps an unclosed fence closed in every chunk', () => {
    const body = Array.from({ length: 40 }, (_, i) => `row ${i}`).join('\n');
    for (const text of [`~~~~sql\n${body}\n~~~~\nafter`, `intro\n\n\`\`\`\n${body}`]) {
      const chunks = splitMessage(text, 64);
      for (const chunk of chunks) {
        expect(chunk.length).toBeLessThanOrEqual(64);
        expect(fencesBalanced(chunk, 64)).toBe(true);
      }
    }
    const tilde = splitMessage(`~~~~sql\n${body}\n~~~~`, 64);
    for (const chunk of tilde) expect(chunk).toMatch(/^~~~~sql\n[\s\S]*\n~~~~$/);
  });

  it('does not end a chunk on a fence opener', () => {
    const text = `${'p '.repeat(40)}\n\`\`\`js\n${'code();\n'.repeat(20)}\`\`\``;
    const chunks = splitMessage(text, 100);
    for (const chunk of chunks) expect(chunk).not.toMatch(/```js\n```$/);
  });

  it('keeps random documents within the limit, balanced and complete', () => {
    const rand = mulberry32(3);
    const pieces = ['word', ' ', ' ', '\n', '\n\n', '\n```py3\n', '\n```\n', '\n~~~\n', '😀', '👨‍👩‍👧', '``', 'x'.repeat(40)];
    for (let round = 0; round < 300; round++) {
      const text = Array.from({ length: 20 + Math.floor(rand() * 200) }, () => pieces[Math.floor(rand() * pieces.length)]!).join('');
      const max = 32 + Math.floor(rand() * 120);
      const chunks = splitMessage(text, max);
      for (const chunk of chunks) {
        expect(chunk.length).toBeLessThanOrEqual(max);
        expect(fencesBalanced(chunk, max)).toBe(true);
        expect(LONE_SURROGATE.test(chunk)).toBe(false);
        expect(chunk).not.toMatch(/^[ \t]*\n|\s$/);
      }
      expectReassembles(text, chunks);
    }
  });

  it('splits 100 KB of mixed Markdown', () => {
    const rand = mulberry32(4);
    const parts: string[] = [];
    let size = 0;
    while (size < 100_000) {
      const part = rand() < 0.2 ? `\`\`\`js\n${'let x = 1;\n'.repeat(1 + Math.floor(rand() * 300))}\`\`\`` : paragraph(rand);
      parts.push(part);
      size += part.length + 2;
    }
    const text = parts.join('\n\n');
    const chunks = splitMessage(text, 4096);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(4096);
      expect(fencesBalanced(chunk)).toBe(true);
    }
    expectReassembles(text, chunks);
  });
});
