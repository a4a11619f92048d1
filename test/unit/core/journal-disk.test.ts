import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '../../../src/core/errors.ts';
import { Journal } from '../../../src/core/journal.ts';
import { LoopDisk } from '../../helpers/disk.ts';
import { inbound, outbound } from '../../helpers/events.ts';
import { memoryLogger } from '../../helpers/log.ts';

const unavailable = LoopDisk.unavailable();

/** The journal on a real, small ext4 file system that fills up or turns read-only under it. */
describe.skipIf(unavailable !== undefined)(`Journal on a disk in trouble${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let disk: LoopDisk | undefined;
  afterEach(() => {
    disk?.dispose();
    disk = undefined;
  });

  it('disk full: the append that does not fit is refused, acknowledged entries survive, and a partial write swallows nothing', async () => {
    disk = LoopDisk.create();
    const path = join(disk.dir, '.mybot', 'journal.jsonl');
    const { logger, lines } = memoryLogger();
    const journal = new Journal(path, { log: logger });
    await journal.append(inbound('s', 'kept', 'before'));
    await journal.append(outbound('s', 'reply in flight', 'before'));
    const reply = journal.pendingEvents()[1]!.event.id;
    disk.fill();

    // large enough that the last free bytes take part of it: a partial write
    const big = inbound('s', 'x'.repeat(300_000), 'too-big');
    const refused = await journal.append(big).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StorageError);
    expect((refused as StorageError).message).toMatch(/^cannot write the journal .*journal\.jsonl \(ENOSPC: no space left on the disk\): free disk space/);
    expect(journal.has('too-big')).toBe(true); // handled from memory: a redelivery is still a duplicate
    expect(journal.storageFailure?.code).toBe('ENOSPC');
    expect(lines.filter((l) => String(l.msg).startsWith('the journal cannot be written'))).toHaveLength(1);
    // bookkeeping does not fail: it waits in memory for the disk
    await journal.saveProgress(reply, { chunks: 1 });
    await journal.ack('before');

    disk.free();
    await journal.append(inbound('s', 'after the disk was freed', 'after'));
    expect(journal.storageFailure).toBeUndefined();
    expect(lines.some((l) => l.msg === 'the journal can be written again')).toBe(true);
    journal.close();

    const { logger: log2, lines: lines2 } = memoryLogger();
    const reopened = new Journal(path, { log: log2 });
    expect(reopened.pendingEvents().map((p) => p.event.id)).toEqual([reply, 'after']);
    expect(reopened.progress(reply)).toEqual({ chunks: 1 });
    expect(reopened.has('before')).toBe(true);
    expect(lines2.find((l) => String(l.msg).includes('skipped unreadable lines'))).toMatchObject({ skipped: 1 });
    reopened.close();
  });

  it('disk full at start: compaction refuses to swap in a truncated journal, and says what to fix', async () => {
    disk = LoopDisk.create();
    const path = join(disk.dir, 'journal.jsonl');
    const journal = new Journal(path);
    for (let i = 0; i < 40; i++) await journal.append(inbound(`s${i}`, 'y'.repeat(20_000), `e${i}`));
    journal.close();
    const before = readFileSync(path, 'utf8');
    disk.fill();

    expect(() => new Journal(path)).toThrow(/^cannot write the journal .* \(ENOSPC: no space left on the disk\)/);
    expect(readFileSync(path, 'utf8')).toBe(before);
    disk.free();
    const reopened = new Journal(path);
    expect(reopened.pendingCount).toBe(40);
    reopened.close();
  });

  // Without fsync, what sat in the page cache dies with the file system, as at a power loss:
  // server.journal_fsync is the setting that makes an acknowledged entry survive this.
  it('read-only (the kernel remounts after an I/O error), with journal_fsync: open files fail with EROFS, nothing acknowledged is lost', async () => {
    disk = LoopDisk.create();
    const path = join(disk.dir, 'journal.jsonl');
    const journal = new Journal(path, { fsync: true });
    await journal.append(inbound('s', 'kept', 'kept'));
    await journal.append(inbound('s', 'done', 'done'));
    await journal.ack('done');
    disk.breakFs();

    const refused = await journal.append(inbound('s', 'refused', 'refused')).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StorageError);
    expect((refused as StorageError).code).toBe('EROFS');
    expect((refused as StorageError).message).toMatch(/\(EROFS: the file system is read-only\)/);
    await journal.ack('kept'); // kept in memory; the disk never takes it
    journal.close();

    disk.remount();
    const reopened = new Journal(path);
    // the ack never reached the disk: the event is replayed (a possible duplicate answer, never a loss)
    expect(reopened.pendingEvents().map((p) => p.event.id)).toEqual(['kept']);
    expect(reopened.has('done')).toBe(true);
    expect(existsSync(path) && statSync(path).mode & 0o077).toBe(0);
    reopened.close();
  });
});
