import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './daemon.ts';
import { pdfWithText, solidPng } from './media.ts';

/** A file a test user sends: a photo, a voice note, or a document (any other file). */
export interface TestFile {
  kind: 'photo' | 'voice' | 'document';
  name: string;
  mime: string;
  data: Buffer;
}

/** One case of test/corpus/media.json: a file, and what the bot must make of it. */
export interface MediaCase {
  name: string;
  file: TestFile;
  /** This text reaches the model. */
  reads?: string;
  /** This many image parts reach the model. */
  images?: number;
  /** The reply ends with a line containing this. */
  notice?: string;
}

interface CorpusFile {
  kind: TestFile['kind'];
  name: string;
  mime?: string;
  text?: string;
  base64?: string;
  fill?: [number, number];
  pdf?: string[][];
  png?: [number, number];
}

/** The corpus, its files' bytes made once (the 25 MB one included): cases share them. */
export function loadMediaCorpus(): MediaCase[] {
  const doc = JSON.parse(readFileSync(join(PROJECT_ROOT, 'test', 'corpus', 'media.json'), 'utf8')) as { files: Array<Omit<MediaCase, 'file'> & { file: CorpusFile }> };
  return doc.files.map(({ file, ...rest }) => ({ ...rest, file: { kind: file.kind, name: file.name, mime: file.mime ?? 'application/octet-stream', data: bytesOf(file) } }));
}

function bytesOf(file: CorpusFile): Buffer {
  if (file.text !== undefined) return Buffer.from(file.text, 'utf8');
  if (file.base64 !== undefined) return Buffer.from(file.base64, 'base64');
  if (file.fill) return Buffer.alloc(file.fill[1], file.fill[0]);
  if (file.pdf) return pdfWithText(file.pdf);
  if (file.png) return solidPng(...file.png);
  throw new Error(`test/corpus/media.json: ${file.name} has no bytes (text, base64, fill, pdf or png)`);
}
