import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, statSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { storageError } from '../core/errors.ts';
import type { Sharing } from '../core/file-lock.ts';
import type { ChatMessage } from './llm.ts';
import type { Logger } from '../log.ts';

/**
 * A message as stored: the chat message, when it was written, and the event that caused it. A
 * user message answering several inbound events at once (a burst) lists them all in `eventIds`;
 * the answer of a turn names the `model` that gave it.
 */
export type StoredMessage = ChatMessage & { ts: number; eventId?: string; eventIds?: string[]; model?: string };

/** A stored message as the LLM takes it: without the bookkeeping fields. */
export function toChat(message: StoredMessage): ChatMessage {
  const { ts: _ts, eventId: _id, eventIds: _ids, model: _model, ...chat } = message;
  return chat as ChatMessage;
}

export interface SessionWindow {
  /** The most recent messages since the last /clear or summary, starting at a user message. */
  messages: StoredMessage[];
  /** The summary of what came before `messages`, when the session was compacted. */
  summary?: string;
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
  /**
   * Replaces all but the last `kept` messages of the window by `summary`. The file keeps every
   * message: only a marker with the summary is appended, and a resume starts from it.
   */
  compact(sessionId: string, summary: string, kept: number): Promise<void>;
}

const RESET_MARKER = '{"type":"reset"';
const SUMMARY_MARKER = '{"type":"summary"';

/** The line `compact` appends: the summary, and how many messages before it stay in the window. */
interface SummaryLine {
  type: 'summary';
  content: string;
  kept: number;
  ts: number;
}
const CACHE_SESSIONS = 1000;

/** A session file as the cached window knows it: another process's appends change its size. */
interface FileMark {
  ino: number;
  size: number;
}

/**
 * JSONL files under `<workspace>/sessions/`. An append costs the same at message 10 and 10,000;
 * a resume reads the file once and parses only the lines of the context window, from the end.
 *
 * `shared`: several processes use the folder. The bus hands a session to one process at a time,
 * but it can move from one to another and back (a rebalance, a crash), so a cached window is
 * checked against the file (inode and size: one stat per load) and read again when another
 * process appended to it.
 */
export class JsonlSessionStore implements SessionStore {
  private readonly cache = new Map<string, SessionWindow>();
  /** Shared: the file of each cached window as this process left it (missing: unknown, look again). */
  private readonly marks = new Map<string, FileMark | 'none'>();
  /** Files whose last append failed, and may end in the middle of a line. */
  private readonly torn = new Set<string>();
  private readonly shared: boolean;

  constructor(
    private readonly dir: string,
    private readonly windowSize: () => number,
    private readonly log: Logger,
    /** fsync each append, as the journal does with server.journal_fsync: an acknowledged turn then survives power loss too. */
    private readonly fsync: () => boolean = () => false,
    { shared = false }: Sharing = {},
  ) {
    this.shared = shared;
  }

  async load(sessionId: string): Promise<SessionWindow> {
    const cached = this.cache.get(sessionId);
    if (cached && this.shared && !this.unchanged(sessionId)) {
      this.cache.delete(sessionId);
    } else if (cached) {
      this.cache.delete(sessionId);
      this.cache.set(sessionId, cached);
      return cached;
    }
    const mark = this.shared ? markOf(this.fileOf(sessionId)) : undefined;
    const window = await this.readWindow(sessionId);
    this.remember(sessionId, window);
    if (mark) this.marks.set(sessionId, mark);
    return window;
  }

  async appendTurn(sessionId: string, messages: StoredMessage[]): Promise<void> {
    if (messages.length === 0) return;
    // sync, as the journal writes: a small append to a local file takes microseconds, the reply
    // waits for it, and the async one costs three thread-pool round trips (open, write, close)
    this.append(sessionId, messages.map((m) => JSON.stringify(m)).join('\n') + '\n');
    const window = this.cache.get(sessionId);
    if (window) {
      window.messages.push(...messages);
      window.count += messages.length;
      window.messages = trimWindow(window.messages, this.windowSize());
    }
  }

  async reset(sessionId: string): Promise<void> {
    this.append(sessionId, JSON.stringify({ type: 'reset', ts: Date.now() }) + '\n');
    this.remember(sessionId, { messages: [], count: 0 });
  }

  async compact(sessionId: string, summary: string, kept: number): Promise<void> {
    const window = await this.load(sessionId);
    const keep = Math.min(Math.max(0, kept), window.messages.length);
    const line: SummaryLine = { type: 'summary', content: summary, kept: keep, ts: Date.now() };
    this.append(sessionId, JSON.stringify(line) + '\n');
    this.remember(sessionId, { messages: window.messages.slice(window.messages.length - keep), summary, count: window.count });
  }

  /**
   * A write the disk cut short (ENOSPC) leaves half a line: the next one to that file starts with
   * a newline, so the torn line is skipped alone instead of swallowing the turn written after it.
   */
  private append(sessionId: string, text: string): void {
    const file = this.fileOf(sessionId);
    const data = this.torn.has(file) ? `\n${text}` : text;
    try {
      if (this.fsync()) appendDurably(file, data);
      else appendFileSync(file, data, { mode: 0o600 });
      this.torn.delete(file);
    } catch (err) {
      this.torn.add(file);
      this.marks.delete(sessionId);
      throw storageError(err, 'the session history', file);
    }
    if (this.shared && this.cache.has(sessionId)) this.appended(sessionId, file, Buffer.byteLength(data));
  }

  /** Shared: whether the session's file is still as this process left it. */
  private unchanged(sessionId: string): boolean {
    const known = this.marks.get(sessionId);
    const now = markOf(this.fileOf(sessionId));
    return known !== undefined && (known === 'none' ? now === 'none' : now !== 'none' && now.ino === known.ino && now.size === known.size);
  }

  /** Shared: a cached session's file grew by our append; a file this append made, or one of unknown size, is looked at. */
  private appended(sessionId: string, file: string, bytes: number): void {
    const known = this.marks.get(sessionId);
    if (known !== undefined && known !== 'none') this.marks.set(sessionId, { ino: known.ino, size: known.size + bytes });
    else this.marks.set(sessionId, markOf(file));
  }

  fileOf(sessionId: string): string {
    return join(this.dir, `${sessionId.replace(/[^A-Za-z0-9._-]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}.jsonl`);
  }

  private remember(sessionId: string, window: SessionWindow): void {
    this.cache.set(sessionId, window);
    if (this.cache.size > CACHE_SESSIONS) {
      const oldest = this.cache.keys().next().value!;
      this.cache.delete(oldest);
      this.marks.delete(oldest);
    }
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
    let summary: string | undefined;
    /** After the last summary marker: how many messages before it still belong to the window. */
    let keptLeft = Infinity;
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
      if (text.startsWith(SUMMARY_MARKER, start)) {
        const line = summary === undefined ? parseSummary(text.slice(start, lineEnd)) : undefined;
        if (line) {
          summary = line.content;
          keptLeft = Math.min(line.kept, Math.max(0, wanted - newest.length));
        }
        continue;
      }
      count++;
      if (newest.length >= wanted || keptLeft <= 0) continue;
      try {
        newest.push(JSON.parse(text.slice(start, lineEnd)) as StoredMessage);
        if (summary !== undefined) keptLeft--;
      } catch {
        corrupt++;
        count--;
      }
    }
    if (corrupt > 0) this.log.warn({ sessionId, corrupt }, 'session history: skipped unreadable lines (torn write at a crash)');
    return { messages: trimWindow(newest.reverse(), wanted), ...(summary !== undefined ? { summary } : {}), count };
  }
}

function parseSummary(text: string): SummaryLine | undefined {
  try {
    const line = JSON.parse(text) as Partial<SummaryLine>;
    return typeof line.content === 'string' && typeof line.kept === 'number' ? (line as SummaryLine) : undefined;
  } catch {
    return undefined;
  }
}

/** Inode and size of a session file; 'none' when there is none. */
function markOf(file: string): FileMark | 'none' {
  try {
    const { ino, size } = statSync(file);
    return { ino, size };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
    throw err;
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
