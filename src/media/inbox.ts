import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { InboundFile } from '../core/events.ts';
import { storageError } from '../core/errors.ts';

/** The workspace folder for the files users send: one subfolder per conversation. */
export const INBOX = 'inbox';

/** A session id as a folder name: `telegram:-100123:5` → `telegram_-100123_5`. */
export function inboxFolder(sessionId: string): string {
  return sessionId.replace(/[^A-Za-z0-9.-]/g, '_');
}

/** Where one file of one message is kept: relative to the workspace (what the model is told) and absolute. */
export interface InboxPlace {
  rel: string;
  abs: string;
}

/**
 * A file's place, derived from the message's event id and the file's position in it: a replay of
 * the same message finds the copy the first run saved, and downloads nothing.
 */
export function inboxPlace(workspace: string, sessionId: string, eventId: string, index: number, file: InboundFile): InboxPlace {
  const messageId = eventId.split(':').at(-1)!.replace(/[^A-Za-z0-9-]/g, '_');
  const rel = `${INBOX}/${inboxFolder(sessionId)}/${messageId}-${index}-${safeName(file.name)}`;
  return { rel, abs: join(workspace, rel) };
}

/** A file name a user chose, made safe to save: no folders, no control or odd characters, not too long. */
export function safeName(name: string): string {
  const base = name.split(/[/\\]/).at(-1) ?? '';
  const cleaned = base.replace(/[^\p{L}\p{N}._ -]/gu, '_').replace(/^[.\s]+/, '').trim();
  if (cleaned === '') return 'file';
  if (cleaned.length <= 80) return cleaned;
  const ext = extname(cleaned).slice(0, 12);
  return `${cleaned.slice(0, 80 - ext.length)}${ext}`;
}

/** The saved copy, or undefined when there is none yet. */
export async function readSaved(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes next to the target, then renames: a crash leaves the whole file or none, never half of one. */
export async function saveAtomically(path: string, data: Buffer | string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.part`);
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    throw storageError(err, 'a file a user sent,', path);
  }
}

/** Beside a saved file: what was read from it (a transcript, a PDF's text), kept so a replay need not read it again. */
export function extractedPath(path: string): string {
  return `${path}.txt`;
}
