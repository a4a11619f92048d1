import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { JsonlSessionStore, type StoredMessage } from '../../../src/agent/sessions.ts';
import { StorageError } from '../../../src/core/errors.ts';
import { LoopDisk } from '../../helpers/disk.ts';
import { memoryLogger } from '../../helpers/log.ts';

const unavailable = LoopDisk.unavailable();
const turn = (n: number, size = 10): StoredMessage[] => [
  { role: 'user', content: `q${n} ${'x'.repeat(size)}`, ts: n, eventId: `e${n}` },
  { role: 'assistant', content: `a${n}`, ts: n },
];

describe.skipIf(unavailable !== undefined)(`JsonlSessionStore on a full disk${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let disk: LoopDisk | undefined;
  afterEach(() => {
    disk?.dispose();
    disk = undefined;
  });

  it('a turn the disk cuts short is refused with a StorageError, and does not swallow the turn written once there is room', async () => {
    disk = LoopDisk.create();
    const dir = join(disk.dir, 'sessions');
    mkdirSync(dir);
    const { logger } = memoryLogger();
    const sessions = new JsonlSessionStore(dir, () => 40, logger);
    await sessions.appendTurn('s', turn(1));
    disk.fill();
    const refused = await sessions.appendTurn('s', turn(2, 300_000)).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StorageError);
    expect((refused as StorageError).message).toMatch(/^cannot write the session history .*s\.jsonl \(ENOSPC: no space left on the disk\)/);
    disk.free();
    await sessions.appendTurn('s', turn(3));

    const { logger: log2, lines } = memoryLogger();
    const { messages } = await new JsonlSessionStore(dir, () => 40, log2).load('s');
    expect(messages.map((m) => m.content)).toEqual([`q1 ${'x'.repeat(10)}`, 'a1', `q3 ${'x'.repeat(10)}`, 'a3']);
    expect(lines.find((l) => String(l.msg).includes('skipped unreadable lines'))).toMatchObject({ corrupt: 1 });
  });

  it('with fsync (server.journal_fsync), a turn is on the disk when appendTurn returns', async () => {
    disk = LoopDisk.create();
    const dir = join(disk.dir, 'sessions');
    mkdirSync(dir);
    const { logger } = memoryLogger();
    await new JsonlSessionStore(dir, () => 40, logger, () => true).appendTurn('s', turn(1));
    // an I/O error now throws away whatever was only in the page cache
    disk.breakFs();
    disk.remount();
    const { messages } = await new JsonlSessionStore(dir, () => 40, logger).load('s');
    expect(messages.map((m) => m.content)).toEqual([`q1 ${'x'.repeat(10)}`, 'a1']);
  });
});
