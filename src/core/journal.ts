import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DeliveryProgress } from './bus.ts';
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
  /** Delivery progress as it was first written: chunks only. */
  | { t: 'd'; id: string; n: number }
  | { t: 'p'; id: string; p: DeliveryProgress }
  | { t: 'r'; id: string; c: number }
  | { t: 's'; id: string }
  /** The remembered ids a compaction writes, oldest first. */
  | { t: 'S'; ids: string[] };

export interface PendingEntry {
  event: AnyEvent;
  progress: DeliveryProgress | undefined;
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
 * Progress recorded for events not journaled yet (the drafts of a reply still being written) is
 * kept for this many events at most: one whose reply never came is forgotten eventually.
 */
const MAX_UNATTACHED_PROGRESS = 1000;
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
  /**
   * Every id the journal knows: a pending event (in the order first published), or null once
   * acknowledged. One map for both, so a new id costs one lookup, not one per collection.
   */
  private readonly ids = new Map<string, AnyEvent | null>();
  private pendingSize = 0;
  /** Delivery progress of pending replies that have any, and of replies not journaled yet. */
  private readonly progressOf = new Map<string, DeliveryProgress>();
  /** The ids in `progressOf` that the journal does not know yet, oldest first. */
  private readonly unattached = new Set<string>();
  /** The acknowledged ids still remembered, oldest first from `ackedNext`, as a ring. */
  private readonly acked: string[] = [];
  private ackedNext = 0;
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
    const entries: PendingEntry[] = [];
    for (const event of this.ids.values()) if (event) entries.push({ event, progress: this.progressOf.get(event.id) });
    return entries;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  get pendingCount(): number {
    return this.pendingSize;
  }

  pendingOfType(type: AnyEvent['type']): number {
    let n = 0;
    for (const event of this.ids.values()) if (event?.type === type) n++;
    return n;
  }

  /** Why the last write failed, while the disk still refuses writes. */
  get storageFailure(): StorageError | undefined {
    return this.failure;
  }

  progress(id: string): DeliveryProgress | undefined {
    return this.progressOf.get(id);
  }

  /** Journals an event. Resolves false, writing nothing, if its id is known already. */
  append(event: AnyEvent): Promise<boolean> {
    if (this.ids.has(event.id)) return ALREADY_JOURNALED;
    this.ids.set(event.id, event);
    if (this.unattached.size > 0) this.unattached.delete(event.id);
    this.pendingSize++;
    const batch = this.batch;
    batch.written ??= deferred<boolean>();
    batch.events.push(event);
    this.added();
    return batch.written.promise;
  }

  ack(id: string): Promise<void> {
    if (!this.ids.get(id)) return NOTHING_TO_WRITE;
    this.settle(id, true);
    const batch = this.batch;
    batch.bookkeeping ??= deferred<void>();
    batch.acks.push(id);
    this.added();
    return batch.bookkeeping.promise;
  }

  /** For a pending event, or one not journaled yet; an acknowledged one is done and keeps none. */
  saveProgress(id: string, p: DeliveryProgress): Promise<void> {
    if (!this.keepsProgressFor(id)) return NOTHING_TO_WRITE;
    this.progressOf.set(id, p);
    return this.bookkeeping(JSON.stringify({ t: 'p', id, p }));
  }

  private keepsProgressFor(id: string): boolean {
    const known = this.ids.get(id);
    if (known === null) return false;
    if (known === undefined && !this.unattached.has(id)) {
      this.unattached.add(id);
      if (this.unattached.size > MAX_UNATTACHED_PROGRESS) {
        const oldest = this.unattached.values().next().value!;
        this.unattached.delete(oldest);
        this.progressOf.delete(oldest);
      }
    }
    return true;
  }

  setRetryCount(id: string, count: number): Promise<void> {
    const event = this.ids.get(id);
    if (event?.type !== 'inbound') return NOTHING_TO_WRITE;
    this.ids.set(id, { ...event, retryCount: count });
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
    // a torn line is closed first; the empty last element gives the text its final newline without another copy
    const lines = [...(this.torn ? [''] : []), ...this.unwritten, ...(batch.events.length > 0 ? [JSON.stringify({ t: 'E', e: batch.events })] : []), ...bookkeeping, ''];
    try {
      writeFully(this.fd, lines.join('\n'));
      if (this.options.fsync) fsyncSync(this.fd);
    } catch (error) {
      this.writeFailed(error, batch, bookkeeping);
      return;
    }
    this.recordsSinceCompaction += batch.events.length + batch.acks.length + lines.length - 1;
    this.torn = false;
    this.unwritten = [];
    if (this.failure) this.recovered();
    batch.written?.resolve(true);
    batch.bookkeeping?.resolve();
    // a rewrite writes every remembered id and pending event again: waiting for four times as many
    // new records keeps that under a quarter of a record per record written, and the file ~12 MB at most
    if (this.recordsSinceCompaction > COMPACT_AFTER_RECORDS && this.recordsSinceCompaction > 4 * this.ids.size) {
      this.compact();
    }
  }

  /** Events of the batch are not durable: their append rejects. The rest is written with the next flush. */
  private writeFailed(error: unknown, batch: Batch, bookkeeping: string[]): void {
    // something may have reached the file: whatever comes next starts on a line of its own
    this.torn = true;
    const failure = storageError(error, 'the journal', this.path);
    for (const { id } of batch.events) this.settle(id);
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

  /** A pending or unknown id becomes an acknowledged one, remembered; the oldest beyond `rememberIds` is forgotten. */
  private settle(id: string, pending = Boolean(this.ids.get(id))): void {
    if (pending) this.pendingSize--;
    if (this.progressOf.size > 0 && this.progressOf.delete(id)) this.unattached.delete(id);
    if (this.rememberIds <= 0) {
      this.ids.delete(id);
      return;
    }
    // every id in the ring is in `ids` as acknowledged, and leaves both at once
    const oldest = this.acked[this.ackedNext];
    if (oldest !== undefined) this.ids.delete(oldest);
    this.acked[this.ackedNext] = id;
    this.ackedNext = (this.ackedNext + 1) % this.rememberIds;
    this.ids.set(id, null);
  }

  /** Acknowledged ids, oldest first. */
  private *remembered(): Generator<string> {
    for (let i = 0; i < this.acked.length; i++) yield this.acked[(this.ackedNext + i) % this.acked.length]!;
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
        if (!this.ids.has(record.e.id)) {
          this.ids.set(record.e.id, record.e);
          this.pendingSize++;
          if (this.unattached.size > 0) this.unattached.delete(record.e.id);
        }
        break;
      case 'E':
        for (const e of record.e) this.apply({ t: 'e', e });
        break;
      case 'a':
      case 's':
        if (this.ids.get(record.id) !== null) this.settle(record.id);
        break;
      case 'A':
        for (const id of record.ids) this.apply({ t: 'a', id });
        break;
      case 'S':
        for (const id of record.ids) this.apply({ t: 's', id });
        break;
      case 'd':
        this.apply({ t: 'p', id: record.id, p: { chunks: record.n } });
        break;
      case 'p':
        if (this.keepsProgressFor(record.id)) this.progressOf.set(record.id, record.p);
        break;
      case 'r': {
        const event = this.ids.get(record.id);
        if (event?.type === 'inbound') this.ids.set(record.id, { ...event, retryCount: record.c });
        break;
      }
    }
  }

  /** Writes the current state to a new file and swaps it in; returns an fd open for appending. */
  private rewrite(): number {
    const tmp = `${this.path}.tmp`;
    const lines: string[] = [];
    if (this.acked.length > 0) lines.push(JSON.stringify({ t: 'S', ids: [...this.remembered()] }));
    for (const { event, progress } of this.pendingEvents()) {
      lines.push(JSON.stringify({ t: 'e', e: event }));
      if (progress) lines.push(JSON.stringify({ t: 'p', id: event.id, p: progress }));
    }
    for (const id of this.unattached) lines.push(JSON.stringify({ t: 'p', id, p: this.progressOf.get(id) }));
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
