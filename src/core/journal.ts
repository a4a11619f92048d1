import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AnyEvent } from './events.ts';
import type { Logger } from '../log.ts';

type JournalRecord =
  | { t: 'e'; e: AnyEvent }
  | { t: 'a'; id: string }
  | { t: 'd'; id: string; n: number }
  | { t: 'r'; id: string; c: number }
  | { t: 's'; id: string };

export interface PendingEntry {
  event: AnyEvent;
  delivered: number;
}

export interface JournalOptions {
  /** fsync after each write: survives power loss, not only a crash of the process. */
  fsync?: boolean;
  /** How many acknowledged ids to remember for de-duplication of re-delivered messages. */
  rememberIds?: number;
  log?: Logger;
}

const COMPACT_AFTER_RECORDS = 20_000;
const DEFAULT_REMEMBER_IDS = 20_000;

/**
 * Append-only journal of durable events and their acknowledgements, one JSON record per line.
 *
 * Writes go to the OS with writeSync, so a record is safe from a crash of this process as soon as
 * `append` returns; records published in the same tick share one write. A torn last line (a crash
 * mid-write) is skipped on open. When enough records pile up, the file is rewritten with only the
 * pending events and the remembered ids (temp file, fsync, rename), so it never grows without bound.
 */
export class Journal {
  private fd: number;
  private readonly pending = new Map<string, PendingEntry>();
  private readonly seen = new Set<string>();
  private buffer: string[] = [];
  private flushWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private flushScheduled = false;
  private recordsSinceCompaction = 0;
  private readonly rememberIds: number;

  constructor(
    readonly path: string,
    private readonly options: JournalOptions = {},
  ) {
    this.rememberIds = options.rememberIds ?? DEFAULT_REMEMBER_IDS;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.load();
    this.fd = this.rewrite();
  }

  /** Events never acknowledged, in the order they were first published. */
  pendingEvents(): PendingEntry[] {
    return [...this.pending.values()];
  }

  has(id: string): boolean {
    return this.pending.has(id) || this.seen.has(id);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  pendingOfType(type: AnyEvent['type']): number {
    let n = 0;
    for (const { event } of this.pending.values()) if (event.type === type) n++;
    return n;
  }

  delivered(id: string): number {
    return this.pending.get(id)?.delivered ?? 0;
  }

  /** Journals an event. Resolves false, writing nothing, if its id is known already. */
  async append(event: AnyEvent): Promise<boolean> {
    if (this.has(event.id)) return false;
    this.pending.set(event.id, { event, delivered: 0 });
    await this.write({ t: 'e', e: event });
    return true;
  }

  async ack(id: string): Promise<void> {
    if (!this.pending.delete(id)) return;
    this.remember(id);
    await this.write({ t: 'a', id });
  }

  async markDelivered(id: string, n: number): Promise<void> {
    const entry = this.pending.get(id);
    if (!entry) return;
    entry.delivered = n;
    await this.write({ t: 'd', id, n });
  }

  async setRetryCount(id: string, count: number): Promise<void> {
    const entry = this.pending.get(id);
    if (!entry || entry.event.type !== 'inbound') return;
    entry.event = { ...entry.event, retryCount: count };
    await this.write({ t: 'r', id, c: count });
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private write(record: JournalRecord): Promise<void> {
    this.buffer.push(JSON.stringify(record) + '\n');
    return new Promise((resolve, reject) => {
      this.flushWaiters.push({ resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.buffer.length === 0) return;
    const data = this.buffer.join('');
    const waiters = this.flushWaiters;
    this.recordsSinceCompaction += this.buffer.length;
    this.buffer = [];
    this.flushWaiters = [];
    try {
      writeSync(this.fd, data);
      if (this.options.fsync) fsyncSync(this.fd);
    } catch (error) {
      for (const w of waiters) w.reject(error);
      return;
    }
    for (const w of waiters) w.resolve();
    if (this.recordsSinceCompaction > COMPACT_AFTER_RECORDS && this.recordsSinceCompaction > 4 * this.pending.size) {
      this.compact();
    }
  }

  private compact(): void {
    try {
      const fd = this.rewrite();
      closeSync(this.fd);
      this.fd = fd;
    } catch (error) {
      // keep appending to the old file; compaction is retried after more records
      this.recordsSinceCompaction = 0;
      this.options.log?.error({ err: error, path: this.path }, 'journal compaction failed');
    }
  }

  private remember(id: string): void {
    this.seen.add(id);
    if (this.seen.size > this.rememberIds) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  private load(): void {
    if (!existsSync(this.path)) return;
    const text = readFileSync(this.path, 'utf8');
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      let record: JournalRecord;
      try {
        record = JSON.parse(line) as JournalRecord;
      } catch {
        skipped++;
        continue;
      }
      this.apply(record);
    }
    if (skipped > 0) this.options.log?.warn({ path: this.path, skipped }, 'journal: skipped unreadable lines (torn write at a crash)');
  }

  private apply(record: JournalRecord): void {
    switch (record.t) {
      case 'e':
        if (!this.seen.has(record.e.id)) this.pending.set(record.e.id, { event: record.e, delivered: 0 });
        break;
      case 'a':
        this.pending.delete(record.id);
        this.remember(record.id);
        break;
      case 'd': {
        const entry = this.pending.get(record.id);
        if (entry) entry.delivered = record.n;
        break;
      }
      case 'r': {
        const entry = this.pending.get(record.id);
        if (entry?.event.type === 'inbound') entry.event = { ...entry.event, retryCount: record.c };
        break;
      }
      case 's':
        this.remember(record.id);
        break;
    }
  }

  /** Writes the current state to a new file and swaps it in; returns an fd open for appending. */
  private rewrite(): number {
    const tmp = `${this.path}.tmp`;
    const lines: string[] = [];
    for (const id of this.seen) lines.push(JSON.stringify({ t: 's', id }));
    for (const { event, delivered } of this.pending.values()) {
      lines.push(JSON.stringify({ t: 'e', e: event }));
      if (delivered > 0) lines.push(JSON.stringify({ t: 'd', id: event.id, n: delivered }));
    }
    const fd = openSync(tmp, 'w', 0o600);
    try {
      if (lines.length > 0) writeSync(fd, lines.join('\n') + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    this.recordsSinceCompaction = 0;
    return openSync(this.path, 'a', 0o600);
  }
}
