import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../../src/core/journal.ts';
import { inbound, outbound } from '../../helpers/events.ts';
import { PROJECT_ROOT } from '../../helpers/daemon.ts';
import { memoryLogger } from '../../helpers/log.ts';

function journalPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'mybot-journal-')), 'journal.jsonl');
}

describe('Journal', () => {
  it('keeps pending events, their delivery progress and retry count across a reopen', async () => {
    const path = journalPath();
    const j = new Journal(path);
    await j.append(inbound('s', 'a', 'in1'));
    await j.append(outbound('s', 'reply', 'in1'));
    const out = j.pendingEvents()[1]!.event;
    await j.saveProgress(out.id, { chunks: 2 });
    await j.setRetryCount('in1', 2);
    j.close();
    const again = new Journal(path);
    const pending = again.pendingEvents();
    expect(pending.map((p) => p.event.type)).toEqual(['inbound', 'outbound']);
    expect(again.progress(out.id)).toEqual({ chunks: 2 });
    expect(pending[0]!.event).toMatchObject({ id: 'in1', retryCount: 2 });
    again.close();
  });

  it('writes the events and acknowledgements of one tick as one record each, events first: an event acknowledged in the tick it came stays done', async () => {
    const path = journalPath();
    const j = new Journal(path);
    const written = [j.append(inbound('s', 'a', 'b1')), j.append(inbound('s', 'b', 'b2')), j.append(inbound('s', 'c', 'b3'))];
    const acked = [j.ack('b1'), j.ack('b3')];
    await Promise.all([...written, ...acked]);
    j.close();
    const records = readFileSync(path, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { t: string });
    expect(records.map((r) => r.t)).toEqual(['E', 'A']);
    const again = new Journal(path);
    expect(again.pendingEvents().map((p) => p.event.id)).toEqual(['b2']);
    expect(again.has('b1') && again.has('b3')).toBe(true);
    again.close();
  });

  it('reads a journal written one record per event, as before batches', () => {
    const path = journalPath();
    // and a compaction's remembered ids one record each
    const lines = [{ t: 's', id: 'o0' }, { t: 'e', e: inbound('s', 'old', 'o1') }, { t: 'e', e: inbound('s', 'old too', 'o2') }, { t: 'a', id: 'o1' }];
    appendFileSync(path, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const j = new Journal(path);
    expect(j.pendingEvents().map((p) => p.event.id)).toEqual(['o2']);
    expect(j.has('o0') && j.has('o1')).toBe(true);
    expect(j.pendingCount).toBe(1);
    j.close();
  });

  it('skips a torn last line with a warning instead of failing', async () => {
    const path = journalPath();
    const j = new Journal(path);
    await j.append(inbound('s', 'kept', 'k1'));
    j.close();
    appendFileSync(path, '{"t":"e","e":{"id":"half');
    const { logger, lines } = memoryLogger();
    const again = new Journal(path, { log: logger });
    expect(again.pendingEvents().map((p) => p.event.id)).toEqual(['k1']);
    expect(lines.some((l) => String(l.msg).includes('skipped unreadable lines'))).toBe(true);
    again.close();
  });

  it('compacts: the file stays small while thousands of events come and go, and ids are still remembered', async () => {
    const path = journalPath();
    const j = new Journal(path, { rememberIds: 1000 });
    for (let i = 0; i < 30_000; i++) {
      await j.append(inbound('s', 'x'.repeat(100), `id${i}`));
      await j.ack(`id${i}`);
    }
    await j.append(inbound('s', 'still pending', 'last'));
    expect(statSync(path).size).toBeLessThan(4 * 1024 * 1024);
    expect(await j.append(inbound('s', 'dup', 'id29999'))).toBe(false);
    j.close();
    const again = new Journal(path);
    expect(again.pendingEvents().map((p) => p.event.id)).toEqual(['last']);
    expect(again.has('id29999')).toBe(true);
    again.close();
  });

  it('forgets the oldest acknowledged ids first, beyond rememberIds, also after a reopen', async () => {
    const path = journalPath();
    const j = new Journal(path, { rememberIds: 3 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      await j.append(inbound('s', id, id));
      await j.ack(id);
    }
    const remembered = (journal: Journal) => ['a', 'b', 'c', 'd', 'e'].filter((id) => journal.has(id));
    expect(remembered(j)).toEqual(['c', 'd', 'e']);
    j.close();
    const again = new Journal(path, { rememberIds: 3 });
    expect(remembered(again)).toEqual(['c', 'd', 'e']);
    await again.append(inbound('s', 'f', 'f'));
    await again.ack('f');
    expect(remembered(again)).toEqual(['d', 'e']);
    again.close();
    // the reopen wrote the remembered ids as one record, oldest first: the order holds through it
    const third = new Journal(path, { rememberIds: 3 });
    expect(readFileSync(path, 'utf8')).toContain('{"t":"S","ids":["d","e","f"]}');
    await third.append(inbound('s', 'g', 'g'));
    await third.ack('g');
    expect(['d', 'e', 'f', 'g'].filter((id) => third.has(id))).toEqual(['e', 'f', 'g']);
    third.close();
  });

  it('writes the journal with owner-only permissions', async () => {
    const path = journalPath();
    const j = new Journal(path);
    await j.append(inbound('s', 'a'));
    j.close();
    expect(statSync(path).mode & 0o077).toBe(0);
    expect(readFileSync(path, 'utf8')).toContain('"a"');
  });

  it('replays exactly the unacknowledged events after the process is killed with SIGKILL', async () => {
    const path = journalPath();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/bus-child.ts', 'publish', path, '10'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('published') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    const replay = spawnSync(process.execPath, ['--import', 'tsx', 'test/helpers/bus-child.ts', 'replay', path], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    expect(JSON.parse(replay.stdout.trim())).toEqual(['e1', 'e3', 'e5', 'e7', 'e9']);
  });
});
