import { describe, it, expect } from 'vitest';
import { escapeHtml, markdownToTelegramHtml as render } from '../../../src/channels/telegram/format.ts';

const ALLOWED_TAGS = new Set(['b', 'i', 's', 'code', 'pre', 'a', 'blockquote']);

/**
 * Returns null when html is well formed for Telegram: only allowed tags, all
 * balanced and nested, nothing inside <code>, only &amp; &lt; &gt; &quot;
 * entities, and no bare < > & in text or attribute values.
 */
function htmlProblem(html: string): string | null {
  const stack: string[] = [];
  const tag = /<(\/?)([a-z]+)((?: [a-z]+="[^"<>]*")*)>/g;
  let last = 0;
  for (let m = tag.exec(html); m; m = tag.exec(html)) {
    const text = html.slice(last, m.index);
    if (/[<>]|&(?!(?:amp|lt|gt|quot);)/.test(text)) return `bad text ${JSON.stringify(text)}`;
    last = tag.lastIndex;
    const [, closing, name = '', attrs = ''] = m;
    if (!ALLOWED_TAGS.has(name)) return `tag <${name}>`;
    if (/&(?!(?:amp|lt|gt|quot);)/.test(attrs)) return `bad attribute ${attrs}`;
    if (closing) {
      if (stack.pop() !== name) return `unbalanced </${name}>`;
    } else {
      if (stack.at(-1) === 'code') return `<${name}> inside <code>`;
      stack.push(name);
    }
  }
  const rest = html.slice(last);
  if (/[<>]|&(?!(?:amp|lt|gt|quot);)/.test(rest)) return `bad text ${JSON.stringify(rest)}`;
  return stack.length === 0 ? null : `unclosed <${stack.join('><')}>`;
}

describe('escapeHtml', () => {
  it('escapes & < > and "', () => {
    expect(escapeHtml(`<b> & "x" 'y'`)).toBe('&lt;b&gt; &amp; &quot;x&quot; \'y\'');
  });
});

describe('markdownToTelegramHtml', () => {
  it.each([
    ['**bold** and __bold__', '<b>bold</b> and <b>bold</b>'],
    ['*italic* and _italic_', '<i>italic</i> and <i>italic</i>'],
    ['~~gone~~', '<s>gone</s>'],
    ['***both***', '<i><b>both</b></i>'],
    ['**bold *and italic***', '<b>bold <i>and italic</i></b>'],
    ['*italic **and bold***', '<i>italic <b>and bold</b></i>'],
    ['***a** b*', '<i><b>a</b> b</i>'],
    ['***a* b**', '<b><i>a</i> b</b>'],
    ['use `a < b && c`', 'use <code>a &lt; b &amp;&amp; c</code>'],
    ['``code with ` tick``', '<code>code with ` tick</code>'],
    ['`**not bold**`', '<code>**not bold**</code>'],
    ['[docs](https://example.com/a_b?x=1&y=2)', '<a href="https://example.com/a_b?x=1&amp;y=2">docs</a>'],
    ['[**bold** link](http://x.org)', '<a href="http://x.org"><b>bold</b> link</a>'],
    ['[wiki](https://en.wikipedia.org/wiki/Foo_(bar))', '<a href="https://en.wikipedia.org/wiki/Foo_(bar)">wiki</a>'],
    ['[me](tg://user?id=1) [mail](mailto:a@b.c)', '<a href="tg://user?id=1">me</a> <a href="mailto:a@b.c">mail</a>'],
    ['[x](javascript:alert(1))', '[x](javascript:alert(1))'],
    ['[file](./notes.md)', '[file](./notes.md)'],
    ['[x](https://a.b/"><script>)', '[x](https://a.b/&quot;&gt;&lt;script&gt;)'],
    ['<https://example.com>', '<a href="https://example.com">https://example.com</a>'],
    ['# Title', '<b>Title</b>'],
    ['### Title ###', '<b>Title</b>'],
    ['## **Summary**', '<b>Summary</b>'],
    ['#hashtag', '#hashtag'],
    ['- one\n* two\n+ three', '• one\n• two\n• three'],
    ['  - nested *item*', '  • nested <i>item</i>'],
    ['1. first\n2) second', '1. first\n2) second'],
    ['> quoted **text**\n> more', '<blockquote>quoted <b>text</b>\nmore</blockquote>'],
    ['> > nested', '<blockquote>nested</blockquote>'],
    ['---', '———'],
    ['```ts\nconst a = 1;\n```', '<pre><code class="language-ts">const a = 1;</code></pre>'],
    ['```\nplain\n```', '<pre><code>plain</code></pre>'],
    ['~~~python\nx\n~~~', '<pre><code class="language-python">x</code></pre>'],
    ['```c++\nx\n```', '<pre><code class="language-c++">x</code></pre>'],
    ['```"><script>\nx\n```', '<pre><code>x</code></pre>'],
    ['````md\n```\ninner\n```\n````', '<pre><code class="language-md">```\ninner\n```</code></pre>'],
    ['1. step\n   ```sh\n   ls -la\n   ```', '1. step\n<pre><code class="language-sh">ls -la</code></pre>'],
  ])('renders %j', (markdown, html) => {
    expect(render(markdown)).toBe(html);
  });

  it('escapes HTML in plain text', () => {
    expect(render('<b>not bold</b> & <script>')).toBe('&lt;b&gt;not bold&lt;/b&gt; &amp; &lt;script&gt;');
    expect(render('a &amp; b')).toBe('a &amp;amp; b');
  });

  it('escapes code block content instead of formatting it', () => {
    expect(render('```html\n<b>**x**</b> & _y_\n```')).toBe(
      '<pre><code class="language-html">&lt;b&gt;**x**&lt;/b&gt; &amp; _y_</code></pre>',
    );
  });

  it('renders an unclosed fence as code to the end', () => {
    expect(render('text\n```js\nlet a = 1 < 2;')).toBe('text\n<pre><code class="language-js">let a = 1 &lt; 2;</code></pre>');
  });

  it.each([
    ['**unclosed bold', '**unclosed bold'],
    ['`unclosed code <x>', '`unclosed code &lt;x&gt;'],
    ['__init__ is not snake_case_words', '<b>init</b> is not snake_case_words'],
    ['snake_case_name and _private', 'snake_case_name and _private'],
    ['2 * 3 * 4 and 2*3*4', '2 * 3 * 4 and 2*3*4'],
    ['a * b', 'a * b'],
    ['footnote* here', 'footnote* here'],
    ['** not bold **', '** not bold **'],
    ['\\*literal\\* and \\_x\\_', '*literal* and _x_'],
    ['https://x.com/_a_b_ and https://y.com/*z*', 'https://x.com/_a_b_ and https://y.com/*z*'],
    ['**https://x.com/a_b**', '<b>https://x.com/a_b</b>'],
    ['*a **b* c**', '<i>a **b</i> c**'],
    ['~single~ and ~~~triple~~~', '~single~ and ~~~triple~~~'],
    ['a **** b', 'a **** b'],
  ])('keeps %j literal where it is not clearly Markdown', (markdown, html) => {
    expect(render(markdown)).toBe(html);
  });

  it('handles emphasis next to emoji and CJK', () => {
    expect(render('🎉**Done**')).toBe('🎉<b>Done</b>');
    expect(render('这是**粗体**文字')).toBe('这是<b>粗体</b>文字');
  });

  it.each([
    '',
    '<',
    '&',
    '&amp;',
    '<b>',
    '</b>',
    '<a href="x">',
    '**',
    '***',
    '*_*_*_',
    '**_x**_',
    '__**x__**',
    '~~**x~~**',
    '*a _b* c_',
    '`',
    '``',
    '```',
    '```\n',
    '``` ` ```',
    '[',
    '[]()',
    '[](https://x.y)',
    '[a](https://x.y "title")',
    '[a](<https://x.y/a b>)',
    '[a]( https://x.y )',
    '[a](https://x.y/<b>)',
    '[a **b](https://x.y) c**',
    '**[a](https://x.y)**',
    '[`<code>`](https://x.y)',
    '[[nested](https://a.b)](https://c.d)',
    '<https://x.y/"onmouseover=alert(1)>',
    '<mailto:a@b.c>',
    '> **quote',
    '>',
    '# ',
    '# **',
    '- ',
    '-',
    '\\',
    'a\\',
    '\u0000\u0008',
    '\r\n**x**\r\n',
    '😀*😀*😀',
    '**bold `code** still code`',
    '`code **bold` still**',
    '_a_b_c_',
    '***a** b*',
    '*a **b***',
    '~~a ~~b~~ c~~',
    '<<<>>>&&&""\'\'',
  ])('emits well-formed HTML for %j', (markdown) => {
    const html = render(markdown);
    expect(htmlProblem(html)).toBeNull();
  });

  it('emits well-formed HTML for random Markdown soup', () => {
    let seed = 42;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const pieces = ['*', '**', '_', '__', '~~', '`', '```', '[', ']', '(', ')', 'https://a.b/c_d', '<', '>', '&', '"', '\\', ' ', '\n', '# ', '- ', '> ', 'word', '😀', 'x_y', '](', 'tg://u', ' '];
    for (let round = 0; round < 2000; round++) {
      const md = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => pieces[Math.floor(rand() * pieces.length)]!).join('');
      const html = render(md);
      expect(htmlProblem(html), `${JSON.stringify(md)} -> ${JSON.stringify(html)}`).toBeNull();
    }
  });

  it('renders 100 KB of nasty input quickly enough to run', () => {
    const md = '**a *b ~~c `d [e](https://f) _g_ h~~ i* j**\n'.repeat(2500) + '['.repeat(10_000) + '*a '.repeat(10_000);
    expect(htmlProblem(render(md))).toBeNull();
  });
});
