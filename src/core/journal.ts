import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { storageError, type StorageError } from './errors.ts';
import type { AnyEvent } from './events.ts';
import type { Logger } from '../log.ts';

type JournalRecord =
  | { t: 'e'; e: AnyEvent }
  /** The events of one write, in order: one JSON.stringify for the batch is about twice as fast as one per event. */
  | { t: 'E'; e: AnyEvent[] }
  | { t: 'a'; id: string }
  /** The acknowledgements of one write. */
  | { t: 'A'; ids: string[] }
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
/** While the disk refuses writes, bookkeeping records waiting to be written are tried this often. */
const RETRY_WRITE_MS = 5_000;

/** Records waiting for the next write; everyone who added one shares its two promises. */
interface Batch {
  /** Written as one record, first: if the write fails, these events are not durable. */
  events: AnyEvent[];
  /** Written as one record, after the events. */
  acks: string[];
  /** Delivery progress and retry counts, one record each, last. */
  lines: string[];
  /** Resolves true once written; rejects with the StorageError if the write failed. */
  written?: Deferred<boolean>;
  /** Bookkeeping never fails its caller: what the disk refused is kept for the next write. */
  bookkeeping?: Deferred<void>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/** A batch this big is written at once instead of at the end of the tick: memory stays bounded under a flood. */
const MAX_BATCH_RECORDS = 1024;
/** What `append` returns for an id it knows already. */
export const ALREADY_JOURNALED = Promise.resolve(false);
const NOTHING_TO_WRITE = Promise.resolve();

/**
 * Append-only journal of durable events and their acknowledgements, one JSON record per line (the
 * events of one write share a record, and so do its acknowledgements).
 *
 * Writes go to the OS with writeSync, so a record is safe from a crash of this process as soon as
 * `append` returns; records published in the same tick share one write. A torn last line (a crash
 * mid-write) is skipped on open. When enough records pile up, the file is rewritten with only the
 * pending events and the remembered ids (temp file, fsync, rename), so it never grows without bound.
 *
 * When the disk refuses a write (full, read-only), `append` rejects with a StorageError: the event
 * is not durable (the bus then handles it from memory, and its id is remembered in memory so a
 * redelivery is still a duplicate). Acknowledgements and delivery progress are kept in memory and
 * written once the disk takes writes again. Every record is idempotent, so writing one twice is
 * harmless; a partial write leaves a torn line, which the next write closes with a newline so it
 * cannot swallow the record after it. Compaction never renames a file it could not write whole.
 */
export class Journal {
  private fd: number;
  private readonly pending = new Map<string, PendingEntry>();
  /** Acknowledged ids, to recognise a redelivered message; `seenOrder` has them oldest first, as a ring. */
  private readonly seen = new Set<string>();
  private readonly seenOrder: string[] = [];
  private seenNext = 0;
  private batch: Batch = newBatch();
  private flushScheduled = false;
  /** Bookkeeping records (ack, progress, retry count) a failed write left for the next one. */
  private unwritten: string[] = [];
  /** The file may end in the middle of a line (a failed or partial write). */
  private torn = false;
  private failure: StorageError | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
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

  /** Why the last write failed, while the disk still refuses writes. */
  get storageFailure(): StorageError | undefined {
    return this.failure;
  }

  delivered(id: string): number {
    return this.pending.get(id)?.delivered ?? 0;
  }

  /** Journals an event. Resolves false, writing nothing, if its id is known already. */
  append(event: AnyEvent): Promise<boolean> {
    if (this.has(event.id)) return ALREADY_JOURNALED;
    this.pending.set(event.id, { event, delivered: 0 });
    const batch = this.batch;
    batch.written ??= deferred<boolean>();
    batch.events.push(event);
    this.added();
    return batch.written.promise;
  }

  ack(id: string): Promise<void> {
    if (!this.pending.delete(id)) return NOTHING_TO_WRITE;
    // a pending id is never among the remembered ones (append refuses those): no need to look
    this.remember(id, true);
    const batch = this.batch;
    batch.bookkeeping ??= deferred<void>();
    batch.acks.push(id);
    this.added();
    return batch.bookkeeping.promise;
  }

  markDelivered(id: string, n: number): Promise<void> {
    const entry = this.pending.get(id);
    if (!entry) return NOTHING_TO_WRITE;
    entry.delivered = n;
    return this.bookkeeping(JSON.stringify({ t: 'd', id, n }));
  }

  setRetryCount(id: string, count: number): Promise<void> {
    const entry = this.pending.get(id);
    if (!entry || entry.event.type !== 'inbound') return NOTHING_TO_WRITE;
    entry.event = { ...entry.event, retryCount: count };
    return this.bookkeeping(JSON.stringify({ t: 'r', id, c: count }));
  }

  close(): void {
    this.flush();
    clearInterval(this.retryTimer);
    this.retryTimer = undefined;
    closeSync(this.fd);
  }

  private bookkeeping(line: string): Promise<void> {
    const batch = this.batch;
    batch.bookkeeping ??= deferred<void>();
    batch.lines.push(line);
    this.added();
    return batch.bookkeeping.promise;
  }

  /** The batch is written at the end of this tick, or now if it is full. */
  private added(): void {
    const { events, acks, lines } = this.batch;
    if (events.length + acks.length + lines.length >= MAX_BATCH_RECORDS) {
      this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushQueued);
    }
  }

  private readonly flushQueued = () => {
    this.flushScheduled = false;
    this.flush();
  };

  private flush(): void {
    const batch = this.batch;
    if (batch.events.length + batch.acks.length + batch.lines.length === 0 && this.unwritten.length === 0) return;
    this.batch = newBatch();
    // events before the acknowledgements and progress that may be about them
    const bookkeeping = batch.acks.length > 0 ? [JSON.stringify({ t: 'A', ids: batch.acks }), ...batch.lines] : batch.lines;
    const lines = [...this.unwritten, ...(batch.events.length > 0 ? [JSON.stringify({ t: 'E', e: batch.events })] : []), ...bookkeeping];
    try {
      writeFully(this.fd, (this.torn ? '\n' : '') + lines.join('\n') + '\n');
      if (this.options.fsync) fsyncSync(this.fd);
    } catch (error) {
      this.writeFailed(error, batch, bookkeeping);
      return;
    }
    this.recordsSinceCompaction += batch.events.length + batch.acks.length + lines.length;
    this.torn = false;
    this.unwritten = [];
    if (this.failure) this.recovered();
    batch.written?.resolve(true);
    batch.bookkeeping?.resolve();
    // a rewrite writes every remembered id and pending event again: waiting for four times as many
    // new records keeps that under a quarter of a record per record written, and the file ~12 MB at most
    if (this.recordsSinceCompaction > COMPACT_AFTER_RECORDS && this.recordsSinceCompaction > 4 * (this.pending.size + this.seen.size)) {
      this.compact();
    }
  }

  /** Events of the batch are not durable: their append rejects. The rest is written with the next flush. */
  private writeFailed(error: unknown, batch: Batch, bookkeeping: string[]): void {
    // something may have reached the file: whatever comes next starts on a line of its own
    this.torn = true;
    const failure = storageError(error, 'the journal', this.path);
    for (const { id } of batch.events) {
      this.pending.delete(id);
      this.remember(id);
    }
    this.unwritten.push(...bookkeeping);
    batch.written?.reject(failure);
    batch.bookkeeping?.resolve();
    if (!this.failure) {
      this.options.log?.error({ err: failure, path: this.path, code: failure.code }, 'the journal cannot be written: new events are handled from memory, without the crash guarantee, until the disk takes writes again');
      this.retryTimer = setInterval(() => this.flush(), RETRY_WRITE_MS);
      this.retryTimer.unref();
    }
    this.failure = failure;
  }

  private recovered(): void {
    this.options.log?.info({ path: this.path }, 'the journal can be written again');
    this.failure = undefined;
    clearInterval(this.retryTimer);
    this.retryTimer = undefined;
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

  private remember(id: string, known = false): void {
    if (this.rememberIds <= 0 || (!known && this.seen.has(id))) return;
    // the oldest from the ring, not from seen.values().next(): a Set's iterator steps over the slots
    // of deleted entries, so after many evictions that cost thousands of steps per acknowledgement
    const oldest = this.seenOrder[this.seenNext];
    if (oldest !== undefined) this.seen.delete(oldest);
    this.seenOrder[this.seenNext] = id;
    this.seenNext = (this.seenNext + 1) % this.rememberIds;
    this.seen.add(id);
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
      case 'E':
        for (const e of record.e) this.apply({ t: 'e', e });
        break;
      case 'a':
        this.pending.delete(record.id);
        this.remember(record.id);
        break;
      case 'A':
        for (const id of record.ids) this.apply({ t: 'a', id });
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
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        if (lines.length > 0) writeFully(fd, lines.join('\n') + '\n');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
      this.recordsSinceCompaction = 0;
      this.torn = false;
      return openSync(this.path, 'a', 0o600);
    } catch (error) {
      throw storageError(error, 'the journal', this.path);
    }
  }
}

function newBatch(): Batch {
  return { events: [], acks: [], lines: [] };
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // a caller that does not wait for its append must not turn a disk failure into an unhandled rejection
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** writeSync may write only part of the data (a disk filling up): write the rest, or throw. */
function writeFully(fd: number, text: string): void {
  const written = writeSync(fd, text);
  const length = Buffer.byteLength(text, 'utf8');
  if (written === length) return;
  // rare: encoded again to write the rest from the byte where the OS stopped
  const data = Buffer.from(text, 'utf8');
  let offset = written;
  while (offset < length) offset += writeSync(fd, data, offset, length - offset);
}
