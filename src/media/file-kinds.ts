import { extname } from 'node:path';
import type { InboundFile } from '../core/events.ts';

/** Images a vision model takes (OpenAI: PNG, JPEG, WEBP, non-animated GIF). */
const VISION_TYPES: Readonly<Record<string, string>> = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp', '.gif': 'image/gif' };

const TEXT_MIMES = /^(text\/|application\/(json|ld\+json|xml|x-yaml|yaml|toml|x-toml|javascript|x-javascript|typescript|x-sh|x-shellscript|sql|x-python|x-httpd-php|csv|x-ndjson|graphql)\b)/;
const TEXT_EXTENSIONS = new Set(
  [
    'txt', 'md', 'markdown', 'rst', 'csv', 'tsv', 'json', 'jsonl', 'ndjson', 'yaml', 'yml', 'toml', 'ini', 'cfg', 'conf', 'env', 'xml', 'html', 'htm', 'css', 'log',
    'js', 'mjs', 'cjs', 'ts', 'tsx', 'jsx', 'py', 'rb', 'go', 'rs', 'java', 'kt', 'kts', 'scala', 'c', 'h', 'cc', 'cpp', 'hpp', 'cs', 'swift', 'm', 'php', 'pl', 'lua', 'r',
    'sh', 'bash', 'zsh', 'fish', 'ps1', 'sql', 'graphql', 'proto', 'tex', 'bib', 'srt', 'vtt', 'diff', 'patch', 'dockerfile', 'makefile', 'gradle', 'vue', 'svelte', 'ipynb',
  ].map((ext) => `.${ext}`),
);

/** What can be done with a file a user sent. */
export type Handling = 'image' | 'transcribe' | 'text' | 'pdf' | 'unsupported';

export function handlingOf(file: InboundFile): Handling {
  const ext = extname(file.name).toLowerCase();
  const mime = (file.mime ?? '').toLowerCase();
  if (file.kind === 'voice' || file.kind === 'audio' || file.kind === 'video_note') return 'transcribe';
  if (file.kind === 'video') return 'unsupported';
  if (file.kind === 'image' || mime.startsWith('image/')) return imageMime(file) ? 'image' : 'unsupported';
  if (mime === 'application/pdf' || ext === '.pdf') return 'pdf';
  if (mime.startsWith('audio/')) return 'transcribe';
  if (TEXT_MIMES.test(mime) || TEXT_EXTENSIONS.has(ext) || (ext === '' && /^(readme|license|makefile|dockerfile)/i.test(file.name))) return 'text';
  return 'unsupported';
}

/** The image type to put in a data URL, when a vision model takes this one. */
export function imageMime(file: InboundFile): string | undefined {
  const mime = (file.mime ?? '').toLowerCase();
  if (Object.values(VISION_TYPES).includes(mime)) return mime;
  return VISION_TYPES[extname(file.name).toLowerCase()] ?? (file.kind === 'image' && !mime ? 'image/jpeg' : undefined);
}

/** The image type by the file's first bytes (a user's file name or content type may say anything). */
export function sniffImage(data: Buffer): string | undefined {
  if (data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'image/jpeg';
  if (data.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
  if (data.subarray(0, 4).toString('latin1') === 'RIFF' && data.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return undefined;
}

/** Text as UTF-8, or undefined when the bytes are not text (a NUL byte, or invalid UTF-8). */
export function decodeText(data: Buffer): string | undefined {
  if (data.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(data);
  } catch {
    return undefined;
  }
}

/** "photo", "voice note", "file report.pdf": how a file is named in a line to the user. */
export function describe(file: InboundFile): string {
  switch (file.kind) {
    case 'image':
      return file.name.startsWith('photo') ? 'your photo' : `the image ${file.name}`;
    case 'voice':
      return 'your voice note';
    case 'audio':
      return `the audio ${file.name}`;
    case 'video_note':
      return 'your video note';
    case 'video':
      return `the video ${file.name}`;
    default:
      return `the file ${file.name}`;
  }
}

/** "30 MB", "2.5 MB", "700 KB": a size for a line to the user. */
export function megabytes(bytes: number): string {
  if (bytes < 1_048_576) return `${Math.ceil(bytes / 1024)} KB`;
  return `${(bytes / 1_048_576).toFixed(bytes < 10 * 1_048_576 ? 1 : 0)} MB`;
}
