import { describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlSessionStore, trimWindow, type StoredMessage } from '../../../src/agent/sessions.ts';
import { memoryLogger } from '../../helpers/log.ts';

function store(window = 6) {
  const { logger, lines } = memoryLogger();
  const dir = mkdtempSync(join(tmpdir(), 'mybot-sessions-'));
  return { dir, lines, sessions: new JsonlSessionStore(dir, () => window, logger), fresh: () => new JsonlSessionStore(dir, () => window, logger) };
}

const turn = (n: number): StoredMessage[] => [
  { role: 'user', content: `q${n}`, ts: n, eventId: `e${n}` },
  { role: 'assistant', content: `a${n}`, ts: n },
];

describe('JsonlSessionStore', () => {
  it('resumes a session from disk after a restart, bounded to the window', async () => {
    const { sessions, fresh } = store(4);
    for (let i = 0; i < 5; i++) await sessions.appendTurn('telegram:1', turn(i));
    const resumed = await fresh().load('telegram:1');
    expect(resumed.count).toBe(10);
    expect(resumed.messages.map((m) => m.content)).toEqual(['q3', 'a3', 'q4', 'a4']);
  });

  it('keeps sessions apart, with file names that cannot collide or escape', async () => {
    const { sessions, dir } = store();
    await sessions.appendTurn('telegram:-100:5', turn(1));
    await sessions.appendTurn('../../etc', turn(2));
    expect((await sessions.load('telegram:-100:5')).messages[0]!.content).toBe('q1');
    expect(sessions.fileOf('../../etc').startsWith(dir)).toBe(true);
    expect(statSync(sessions.fileOf('telegram:-100:5')).mode & 0o077).toBe(0);
  });

  it('skips a torn line with a warning', async () => {
    const { sessions, fresh, lines } = store();
    await sessions.appendTurn('s', turn(1));
    appendFileSync(sessions.fileOf('s'), '{"role":"user","cont');
    const resumed = await fresh().load('s');
    expect(resumed.messages.map((m) => m.content)).toEqual(['q1', 'a1']);
    expect(lines.some((l) => l.msg === 'session history: skipped unreadable lines (torn write at a crash)')).toBe(true);
  });

  it('/clear starts fresh, also after a restart', async () => {
    const { sessions, fresh } = store();
    await sessions.appendTurn('s', turn(1));
    await sessions.reset('s');
    await sessions.appendTurn('s', turn(2));
    const resumed = await fresh().load('s');
    expect(resumed.messages.map((m) => m.content)).toEqual(['q2', 'a2']);
    expect(resumed.count).toBe(2);
  });

  it('never starts the window at a tool result whose call was cut off', () => {
    const messages: StoredMessage[] = [
      { role: 'user', content: 'q', ts: 0 },
      { role: 'assistant', content: null, tool_calls: [{ id: 't', name: 'list_files', arguments: '{}' }], ts: 0 },
      { role: 'tool', tool_call_id: 't', content: 'x', ts: 0 },
      { role: 'assistant', content: 'done', ts: 0 },
      { role: 'user', content: 'q2', ts: 0 },
      { role: 'assistant', content: 'a2', ts: 0 },
    ];
    expect(trimWindow(messages, 4).map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(trimWindow(messages, 6)).toHaveLength(6);
  });

  it('a compaction appends a summary marker: the file keeps every message, a resume starts from the summary', async () => {
    const { sessions, fresh } = store(20);
    for (let i = 0; i < 4; i++) await sessions.appendTurn('s', turn(i));
    await sessions.compact('s', 'q0 to q2 were asked', 2);
    const now = await sessions.load('s');
    expect(now.summary).toBe('q0 to q2 were asked');
    expect(now.messages.map((m) => m.content)).toEqual(['q3', 'a3']);
    await sessions.appendTurn('s', turn(4));
    for (const resumed of [await sessions.load('s'), await fresh().load('s')]) {
      expect(resumed.summary).toBe('q0 to q2 were asked');
      expect(resumed.messages.map((m) => m.content)).toEqual(['q3', 'a3', 'q4', 'a4']);
      expect(resumed.count).toBe(10);
    }
    const lines = readFileSync(sessions.fileOf('s'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.role).map((l) => l.content)).toEqual(['q0', 'a0', 'q1', 'a1', 'q2', 'a2', 'q3', 'a3', 'q4', 'a4']);
    expect(lines[8]).toMatchObject({ type: 'summary', content: 'q0 to q2 were asked', kept: 2 });
  });

  it('the last summary wins, a summary that keeps nothing starts the window empty, and /clear drops the summary', async () => {
    const { sessions, fresh } = store(20);
    await sessions.appendTurn('s', turn(1));
    await sessions.compact('s', 'first summary', 2);
    await sessions.appendTurn('s', turn(2));
    await sessions.compact('s', 'second summary', 0);
    let resumed = await fresh().load('s');
    expect(resumed.summary).toBe('second summary');
    expect(resumed.messages).toEqual([]);
    await sessions.appendTurn('s', turn(3));
    resumed = await fresh().load('s');
    expect(resumed.messages.map((m) => m.content)).toEqual(['q3', 'a3']);
    await sessions.reset('s');
    await sessions.appendTurn('s', turn(4));
    resumed = await fresh().load('s');
    expect(resumed.summary).toBeUndefined();
    expect(resumed.messages.map((m) => m.content)).toEqual(['q4', 'a4']);
  });

  it('after a summary, the window still holds at most max_context_messages, and finds the summary beyond them', async () => {
    const { sessions, fresh } = store(4);
    await sessions.appendTurn('s', turn(0));
    await sessions.compact('s', 'early', 0);
    for (let i = 1; i < 6; i++) await sessions.appendTurn('s', turn(i));
    const resumed = await fresh().load('s');
    expect(resumed.summary).toBe('early');
    expect(resumed.messages.map((m) => m.content)).toEqual(['q4', 'a4', 'q5', 'a5']);
  });
});
