import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { storageError } from '../core/errors.ts';
import type { ChatMessage } from './llm.ts';
import type { Logger } from '../log.ts';

/** A message as stored: the chat message, when it was written, and the event that caused it. */
export type StoredMessage = ChatMessage & { ts: number; eventId?: string };

export interface SessionWindow {
  /** The most recent messages since the last /clear, starting at a user message. */
  messages: StoredMessage[];
  /** Messages since the last /clear. */
  count: number;
}

/** Where conversations live. One history per session id, appended per turn. */
export interface SessionStore {
  load(sessionId: string): Promise<SessionWindow>;
  /** Appends a whole turn in one write, so a crash never leaves half a turn. */
  appendTurn(sessionId: string, messages: StoredMessage[]): Promise<void>;
  /** Starts a fresh conversation; the old one stays in the file, behind a marker. */
  reset(sessionId: string): Promise<void>;
}

const RESET_MARKER = '{"type":"reset"';
const CACHE_SESSIONS = 1000;

/**
 * JSONL files under `<workspace>/sessions/`. An append costs the same at message 10 and 10,000;
 * a resume reads the file once and parses only the lines of the context window, from the end.
 */
export class JsonlSessionStore implements SessionStore {
  private readonly cache = new Map<string, SessionWindow>();
  /** Files whose last append failed, and may end in the middle of a line. */
  private readonly torn = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly windowSize: () => number,
    private readonly log: Logger,
    /** fsync each append, as the journal does with server.journal_fsync: an acknowledged turn then survives power loss too. */
    private readonly fsync: () => boolean = () => false,
  ) {}

  async load(sessionId: string): Promise<SessionWindow> {
    const cached = this.cache.get(sessionId);
    if (cached) {
      this.cache.delete(sessionId);
      this.cache.set(sessionId, cached);
      return cached;
    }
    const window = await this.readWindow(sessionId);
    this.remember(sessionId, window);
    return window;
  }

  async appendTurn(sessionId: string, messages: StoredMessage[]): Promise<void> {
    if (messages.length === 0) return;
    // sync, as the journal writes: a small append to a local file takes microseconds, the reply
    // waits for it, and the async one costs three thread-pool round trips (open, write, close)
    this.append(this.fileOf(sessionId), messages.map((m) => JSON.stringify(m)).join('\n') + '\n');
    const window = this.cache.get(sessionId);
    if (window) {
      window.messages.push(...messages);
      window.count += messages.length;
      window.messages = trimWindow(window.messages, this.windowSize());
    }
  }

  async reset(sessionId: string): Promise<void> {
    this.append(this.fileOf(sessionId), JSON.stringify({ type: 'reset', ts: Date.now() }) + '\n');
    this.remember(sessionId, { messages: [], count: 0 });
  }

  /**
   * A write the disk cut short (ENOSPC) leaves half a line: the next one to that file starts with
   * a newline, so the torn line is skipped alone instead of swallowing the turn written after it.
   */
  private append(file: string, text: string): void {
    const data = this.torn.has(file) ? `\n${text}` : text;
    try {
      if (this.fsync()) appendDurably(file, data);
      else appendFileSync(file, data, { mode: 0o600 });
      this.torn.delete(file);
    } catch (err) {
      this.torn.add(file);
      throw storageError(err, 'the session history', file);
    }
  }

  fileOf(sessionId: string): string {
    return join(this.dir, `${sessionId.replace(/[^A-Za-z0-9._-]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}.jsonl`);
  }

  private remember(sessionId: string, window: SessionWindow): void {
    this.cache.set(sessionId, window);
    if (this.cache.size > CACHE_SESSIONS) this.cache.delete(this.cache.keys().next().value!);
  }

  private async readWindow(sessionId: string): Promise<SessionWindow> {
    let text: string;
    try {
      text = await readFile(this.fileOf(sessionId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { messages: [], count: 0 };
      throw err;
    }
    const wanted = this.windowSize();
    const newest: StoredMessage[] = [];
    let count = 0;
    let corrupt = 0;
    // walk lines from the end: only the window is parsed, the rest is only counted
    let end = text.length;
    while (end > 0) {
      const lineEnd = text.charCodeAt(end - 1) === 10 ? end - 1 : end;
      const start = text.lastIndexOf('\n', lineEnd - 1) + 1;
      end = start;
      if (lineEnd <= start) continue;
      if (text.startsWith(RESET_MARKER, start)) break;
      count++;
      if (newest.length >= wanted) continue;
      try {
        newest.push(JSON.parse(text.slice(start, lineEnd)) as StoredMessage);
      } catch {
        corrupt++;
        count--;
      }
    }
    if (corrupt > 0) this.log.warn({ sessionId, corrupt }, 'session history: skipped unreadable lines (torn write at a crash)');
    return { messages: trimWindow(newest.reverse(), wanted), count };
  }
}

/** Keeps the last `size` messages, starting at a user message so no tool result loses its call. */
export function trimWindow(messages: StoredMessage[], size: number): StoredMessage[] {
  let start = Math.max(0, messages.length - size);
  while (start < messages.length && messages[start]!.role !== 'user') start++;
  return start === 0 ? messages : messages.slice(start);
}

/** Appends and fsyncs; a new file's folder is fsynced too, or the file itself could vanish at a power cut. */
function appendDurably(file: string, text: string): void {
  const created = !existsSync(file);
  const fd = openSync(file, 'a', 0o600);
  try {
    const data = Buffer.from(text, 'utf8');
    for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset, data.length - offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (created) {
    const dir = openSync(dirname(file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}
