import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlSessionStore, type StoredMessage } from '../../../src/agent/sessions.ts';
import { memoryLogger } from '../../helpers/log.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Two processes' session stores on one sessions/ folder. */
function twoProcesses(window = 6) {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-sessions-shared-'));
  dirs.push(dir);
  const { logger } = memoryLogger();
  const store = () => new JsonlSessionStore(dir, () => window, logger, () => false, { shared: true });
  return { a: store(), b: store() };
}

const turn = (n: number): StoredMessage[] => [
  { role: 'user', content: `q${n}`, ts: n, eventId: `e${n}` },
  { role: 'assistant', content: `a${n}`, ts: n },
];
const contents = (messages: StoredMessage[]) => messages.map((m) => m.content);

describe('JsonlSessionStore shared by several processes', () => {
  it('a session that moved to another process and back is read again, not served from the stale cache', async () => {
    const { a, b } = twoProcesses();
    await a.load('s');
    await a.appendTurn('s', turn(1));
    expect(contents((await a.load('s')).messages)).toEqual(['q1', 'a1']);
    // the session moves to b, which answers two turns
    expect(contents((await b.load('s')).messages)).toEqual(['q1', 'a1']);
    await b.appendTurn('s', turn(2));
    await b.appendTurn('s', turn(3));
    // and back to a
    const back = await a.load('s');
    expect(contents(back.messages)).toEqual(['q1', 'a1', 'q2', 'a2', 'q3', 'a3']);
    expect(back.count).toBe(6);
    await a.appendTurn('s', turn(4));
    expect(contents((await a.load('s')).messages)).toEqual(['q2', 'a2', 'q3', 'a3', 'q4', 'a4']);
    expect(contents((await b.load('s')).messages)).toEqual(['q2', 'a2', 'q3', 'a3', 'q4', 'a4']);
  });

  it("a process's own appends keep its cached window valid: no second read of the file", async () => {
    const { a } = twoProcesses();
    await a.appendTurn('s', turn(1));
    const cached = await a.load('s');
    await a.appendTurn('s', turn(2));
    expect(await a.load('s')).toBe(cached);
    expect(cached.count).toBe(4);
    await a.reset('s');
    const cleared = await a.load('s');
    await a.appendTurn('s', turn(3));
    expect(await a.load('s')).toBe(cleared);
    expect(contents(cleared.messages)).toEqual(['q3', 'a3']);
  });

  it("sees another process's /clear and compaction", async () => {
    const { a, b } = twoProcesses();
    await a.appendTurn('s', turn(1));
    await a.load('s');
    await b.reset('s');
    expect(await a.load('s')).toEqual({ messages: [], count: 0 });
    await b.appendTurn('s', turn(2));
    await b.appendTurn('s', turn(3));
    await b.compact('s', 'they talked about 2', 2);
    expect(await a.load('s')).toEqual({ messages: turn(3), summary: 'they talked about 2', count: 4 });
  });

  it('a session first seen without a file notices the file another process made', async () => {
    const { a, b } = twoProcesses();
    expect(await a.load('new')).toEqual({ messages: [], count: 0 });
    await b.appendTurn('new', turn(1));
    expect(contents((await a.load('new')).messages)).toEqual(['q1', 'a1']);
  });
});
