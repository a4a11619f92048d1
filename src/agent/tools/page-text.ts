import { convert } from 'html-to-text';

/** What a fetched body became: readable text, and the page's title when it had one. */
export interface PageText {
  title?: string;
  text: string;
}

const HTML_TYPES = new Set(['text/html', 'application/xhtml+xml']);
const TEXT_TYPES = new Set(['application/json', 'application/xml', 'application/javascript', 'application/x-javascript', 'application/ld+json', 'application/rss+xml', 'application/atom+xml']);

export function isHtml(mediaType: string): boolean {
  return HTML_TYPES.has(mediaType);
}

/** Types whose body is worth showing the model: HTML, any text/*, JSON and XML. */
export function isReadable(mediaType: string): boolean {
  return isHtml(mediaType) || mediaType.startsWith('text/') || TEXT_TYPES.has(mediaType) || /\+(json|xml)$/.test(mediaType);
}

/** `text/html; charset=ISO-8859-1` → { mediaType: 'text/html', charset: 'iso-8859-1' }. */
export function parseContentType(header: string | undefined): { mediaType: string; charset?: string } {
  const [type = '', ...params] = (header ?? '').split(';');
  const charset = params.map((p) => /^\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(p)?.[1]).find(Boolean);
  return { mediaType: type.trim().toLowerCase(), ...(charset ? { charset: charset.toLowerCase() } : {}) };
}

/** Decodes with the charset the header or the HTML's own <meta> names; UTF-8 when neither does or it is unknown. */
export function decodeBody(bytes: Buffer, charset: string | undefined, html: boolean): string {
  const declared = charset ?? (html ? /<meta[^>]+charset\s*=\s*["']?([\w-]+)/i.exec(bytes.subarray(0, 2048).toString('latin1'))?.[1] : undefined);
  try {
    return new TextDecoder(declared ?? 'utf-8').decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}

/** Readable text of a page: no scripts, styles, images or navigation; links absolute, so the model can follow them. */
export function htmlToPageText(html: string, baseUrl: string): PageText {
  const text = convert(html, {
    wordwrap: false,
    selectors: [
      // html-to-text's own baseUrl only prepends; links are resolved as a browser would
      { selector: 'a', options: { pathRewrite: (href: string) => absolute(href, baseUrl), hideLinkIfSameAsText: true } },
      { selector: 'img', format: 'skip' },
      { selector: 'nav', format: 'skip' },
      { selector: 'svg', format: 'skip' },
      { selector: 'form', format: 'skip' },
    ],
  });
  const rawTitle = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1];
  const title = rawTitle ? convert(rawTitle, { wordwrap: false }).replace(/\s+/g, ' ').trim() : '';
  return { ...(title ? { title } : {}), text: tidy(text) };
}

function absolute(href: string, base: string): string {
  try {
    return new URL(href, base).href;
  } catch {
    return href;
  }
}

export function plainPageText(text: string): PageText {
  return { text: tidy(text) };
}

function tidy(text: string): string {
  return text
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
