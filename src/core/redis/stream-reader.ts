import type { Redis } from 'ioredis';
import type { AnyEvent } from '../events.ts';
import type { Logger } from '../../log.ts';
import { GROUP, type RedisKeys } from './keys.ts';

/** Entries as XREADGROUP returns them: id and fields (null for an entry deleted since it was read). */
export type StreamEntries = Array<[string, string[] | null]>;
type StreamReply = Array<[string, StreamEntries]> | null;

export interface StreamReaderOptions {
  /** A connection of its own: it blocks in XREADGROUP. */
  reader: Redis;
  /** For everything else. */
  cmd: Redis;
  keys: RedisKeys;
  /** This process's consumer name. */
  me: string;
  /** The streams to read now. */
  streams: () => string[];
  /** Whether the stream is still ours once a read returns. */
  owns: (stream: string) => boolean;
  /** Too much read and not yet handled: reading waits. */
  full: () => boolean;
  /** Whether an entry of the stream was handed out here already (and is not acknowledged yet). */
  known: (stream: string, entryId: string) => boolean;
  /** Hands entries to the bus, in stream order; `retries` by event id for entries read again. */
  deliver: (stream: string, entries: StreamEntries, retries: ReadonlyMap<string, number>) => void;
  log: Logger;
}

const READ_COUNT = 256;
const BLOCK_MS = 1000;
const IDLE_POLL_MS = 100;

/**
 * Reads the streams this process owns: new entries as they come (one blocking XREADGROUP over them
 * all), and on taking a stream over, what its last owner left pending.
 */
export class StreamReader {
  private clientId: number | undefined;
  /** The streams of the read under way: none of them can be handed over before it returns (what it brings would be stranded). */
  private readonly inRead = new Set<string>();
  private loop: Promise<void> | undefined;
  private running = false;

  constructor(private readonly options: StreamReaderOptions) {
    options.reader.on('ready', () => void this.identify());
  }

  start(): void {
    this.running = true;
    this.loop = this.readLoop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  /** The reader may sit in a blocking read: QUIT would wait for it to end. */
  disconnect(): void {
    this.options.reader.disconnect();
  }

  /** Whether a read under way includes the stream (it is then ended at once, so the next leaves it out). */
  reading(stream: string): boolean {
    if (!this.inRead.has(stream)) return false;
    this.wake();
    return true;
  }

  /**
   * A stream just became ours: what its last owner read and never acknowledged is handled first, in
   * order. XAUTOCLAIM takes every pending entry (min idle 0): the lease says the owner is gone
   * (silent for claim_idle_ms, or it handed the stream over). An idle time on the entries alone
   * could not say it: a turn with a slow model or a long tool run stays pending for minutes while
   * its owner is alive, and claiming it would answer it twice.
   */
  async takeOver(stream: string): Promise<void> {
    await this.ensureGroup(stream);
    await this.claimAll(stream);
    await this.readPending(stream);
    this.wake();
  }

  /**
   * Entries another consumer holds in a stream that is ours: read by a process that lost the stream
   * while it was frozen (a pause longer than claim_idle_ms), after its new owner had claimed what it
   * held. Taken back and handled late, rather than never.
   */
  async sweep(stream: string): Promise<void> {
    const summary = (await this.options.cmd.call('XPENDING', stream, GROUP)) as [number, string | null, string | null, Array<[string, string]> | null];
    const others = (summary[3] ?? []).filter(([consumer]) => consumer !== this.options.me);
    if (others.length === 0) return;
    this.options.log.warn({ stream, entries: others.reduce((n, [, count]) => n + Number(count), 0), from: others.map(([consumer]) => consumer) }, 'took back entries a process read after it lost the stream');
    await this.claimAll(stream);
    await this.readPending(stream);
  }

  private async claimAll(stream: string): Promise<void> {
    let cursor = '0-0';
    do {
      const reply = (await this.options.cmd.call('XAUTOCLAIM', stream, GROUP, this.options.me, 0, cursor, 'COUNT', 500, 'JUSTID')) as [string, ...unknown[]];
      cursor = reply[0];
    } while (cursor !== '0-0');
  }

  /** This consumer's pending entries not handed out yet, oldest first. */
  private async readPending(stream: string): Promise<void> {
    let after = '0';
    for (;;) {
      const reply = (await this.options.cmd.call('XREADGROUP', 'GROUP', GROUP, this.options.me, 'COUNT', 500, 'STREAMS', stream, after)) as StreamReply;
      const list = reply?.[0]?.[1] ?? [];
      if (list.length === 0) return;
      const fresh = list.filter(([entryId]) => !this.options.known(stream, entryId));
      if (fresh.length > 0) this.options.deliver(stream, fresh, await this.retriesOf(fresh));
      after = list.at(-1)![0];
    }
  }

  private async readLoop(): Promise<void> {
    const { reader, me, log } = this.options;
    while (this.running) {
      const streams = this.options.streams();
      if (streams.length === 0 || this.options.full()) {
        await pause(IDLE_POLL_MS);
        continue;
      }
      let reply: StreamReply;
      try {
        for (const stream of streams) this.inRead.add(stream);
        reply = (await reader.call('XREADGROUP', 'GROUP', GROUP, me, 'COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...streams, ...streams.map(() => '>'))) as StreamReply;
      } catch (err) {
        if (!this.running) return;
        if (err instanceof Error && err.message.startsWith('NOGROUP')) await Promise.all(streams.map((stream) => this.ensureGroup(stream)));
        else log.warn({ err }, 'reading the streams failed; retrying');
        await pause(IDLE_POLL_MS);
        continue;
      } finally {
        this.inRead.clear();
      }
      // read after the stream was lost (this process was silent too long): its new owner sweeps it up
      for (const [stream, list] of reply ?? []) if (this.options.owns(stream)) this.options.deliver(stream, list, NO_RETRIES);
    }
  }

  private async retriesOf(list: StreamEntries): Promise<ReadonlyMap<string, number>> {
    const ids = list.map(([, fields]) => (fields && parseEntry(fields)?.id) || '').filter(Boolean);
    if (ids.length === 0) return NO_RETRIES;
    const counts = await this.options.cmd.hmget(this.options.keys.retries, ...ids);
    return new Map(ids.flatMap((id, i) => (counts[i] ? [[id, Number(counts[i])] as const] : [])));
  }

  private async ensureGroup(stream: string): Promise<void> {
    try {
      // from the start of the stream: events published before any process read it are not skipped
      await this.options.cmd.call('XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw err;
    }
  }

  private async identify(): Promise<void> {
    try {
      this.clientId = Number(await this.options.reader.call('CLIENT', 'ID'));
    } catch {
      this.clientId = undefined;
    }
  }

  /** Ends the blocking read, so a change of streams (or a stop) applies now, not after the block. */
  wake(): void {
    if (this.inRead.size === 0 || this.clientId === undefined) return;
    this.options.cmd.call('CLIENT', 'UNBLOCK', this.clientId).catch(() => undefined);
  }
}

const NO_RETRIES: ReadonlyMap<string, number> = new Map();

export function parseEntry(fields: string[]): AnyEvent | undefined {
  const at = fields.indexOf('e');
  if (at < 0 || at + 1 >= fields.length) return undefined;
  try {
    return JSON.parse(fields[at + 1]!) as AnyEvent;
  } catch {
    return undefined;
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
