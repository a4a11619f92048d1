import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CostLedger } from '../../../src/agent/cost-ledger.ts';
import { UsageLimiter } from '../../../src/agent/limits.ts';
import { UsageStore } from '../../../src/agent/usage-store.ts';
import { configSchema, type Config } from '../../../src/config/schema.ts';
import type { EventSource } from '../../../src/core/events.ts';
import { memoryLogger } from '../../helpers/log.ts';

const alice: EventSource = { channel: 'telegram', chatId: '10', userId: '10', chatType: 'private' };
const bob: EventSource = { channel: 'telegram', chatId: '20', userId: '20', chatType: 'private' };
/** How long a process may go without looking at the others' counts (SHARED_SYNC_MS in limits.ts). */
const LOOK_MS = 500;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-usage-shared-'));
  dirs.push(dir);
  return dir;
}

/** Two processes' limiters on one usage.json, on one clock that the test moves. */
function twoProcesses(limits: Record<string, unknown>, start = Date.UTC(2030, 0, 1, 12)) {
  const file = join(workspace(), 'usage.json');
  const config: Config = configSchema.parse({ llm: { model: 'm' }, limits });
  let now = start;
  const { logger } = memoryLogger();
  const limiter = () => new UsageLimiter(() => config, new UsageStore(file, logger, { shared: true }), logger, () => now);
  return { a: limiter(), b: limiter(), file, advance: (ms: number) => (now += ms) };
}

describe('UsageLimiter on a shared store (several processes)', () => {
  it("adds each process's counts to the file's: none overwrites another's, and each then sees the sum", () => {
    const { a, b, file, advance } = twoProcesses({});
    a.admit(alice, false);
    a.spent(alice, { promptTokens: 100, completionTokens: 10 }, 'm');
    b.admit(alice, false);
    b.admit(bob, false);
    b.spent(alice, { promptTokens: 50, completionTokens: 5 }, 'm');
    a.flush();
    b.flush();
    a.admit(alice, false);
    a.flush();
    const onDisk = JSON.parse(readFileSync(file, 'utf8'));
    expect(onDisk.users['telegram:10']).toEqual({ messages: 3, promptTokens: 150, completionTokens: 15, cost: 0 });
    expect(onDisk.users['telegram:20']).toEqual({ messages: 1, promptTokens: 0, completionTokens: 0, cost: 0 });
    expect(onDisk.recent['user:telegram:10']).toHaveLength(3);
    expect(a.today(alice).user).toEqual({ messages: 3, promptTokens: 150, completionTokens: 15, cost: 0 });
    advance(LOOK_MS);
    expect(b.today(alice).user).toEqual({ messages: 3, promptTokens: 150, completionTokens: 15, cost: 0 });
    expect(b.today(bob).user?.messages).toBe(1);
  });

  it("counts made after taking in the other process's figures are not lost", () => {
    const { a, b, file, advance } = twoProcesses({});
    a.admit(alice, false);
    a.flush();
    b.admit(alice, false);
    b.flush();
    advance(LOOK_MS);
    expect(a.today(alice).user?.messages).toBe(2); // a took in b's count, without writing
    a.admit(alice, false);
    a.spent(alice, { promptTokens: 7, completionTokens: 0 }, 'm');
    a.flush();
    expect(JSON.parse(readFileSync(file, 'utf8')).users['telegram:10']).toEqual({ messages: 3, promptTokens: 7, completionTokens: 0, cost: 0 });
    advance(LOOK_MS);
    expect(b.today(alice).user).toEqual({ messages: 3, promptTokens: 7, completionTokens: 0, cost: 0 });
  });

  it("tokens_per_day counts the other process's tokens once it wrote them and this one looked", () => {
    const { a, b, advance } = twoProcesses({ per_user: { tokens_per_day: 100 } });
    expect(a.admit(alice, false).ok).toBe(true);
    a.spent(alice, { promptTokens: 60, completionTokens: 0 }, 'm');
    expect(b.admit(alice, false).ok).toBe(true);
    b.spent(alice, { promptTokens: 60, completionTokens: 0 }, 'm');
    a.flush();
    b.flush();
    // b saw a's 60 when it wrote its own: 120 ≥ 100
    expect(b.admit(alice, false)).toMatchObject({ ok: false, limit: 'tokens', notice: expect.any(String) });
    // a looks again only after LOOK_MS: until then it answers on what it knew (the lag)
    expect(a.admit(alice, false).ok).toBe(true);
    advance(LOOK_MS);
    expect(a.admit(alice, false)).toMatchObject({ ok: false, limit: 'tokens' });
  });

  it('messages_per_minute counts the messages every process answered in the last minute', () => {
    const { a, b, advance } = twoProcesses({ per_user: { messages_per_minute: 3 } });
    expect(a.admit(alice, false).ok).toBe(true);
    expect(b.admit(alice, false).ok).toBe(true);
    expect(b.admit(alice, false).ok).toBe(true);
    a.flush();
    b.flush();
    advance(LOOK_MS);
    expect(a.admit(alice, false)).toMatchObject({ ok: false, limit: 'minute', notice: expect.any(String) });
    a.flush();
    advance(LOOK_MS);
    // the notice went out from a: b refuses without another one
    expect(b.admit(alice, false)).toEqual({ ok: false, scope: 'user', limit: 'minute' });
    advance(60_000);
    expect(b.admit(alice, false).ok).toBe(true);
  });

  it('a new UTC day starts from zero in every process: counts a process kept for the day before are dropped', () => {
    const { a, b, file, advance } = twoProcesses({}, Date.UTC(2030, 0, 1, 23, 59, 59));
    a.admit(alice, false);
    b.admit(alice, false);
    a.flush();
    advance(2_000); // 00:00:01 on Jan 2
    a.admit(alice, false);
    a.flush();
    b.flush(); // b's message of Jan 1 is not Jan 2's
    const onDisk = JSON.parse(readFileSync(file, 'utf8'));
    expect(onDisk).toMatchObject({ day: '2030-01-02', users: { 'telegram:10': { messages: 1 } } });
    expect(b.today(alice)).toMatchObject({ day: '2030-01-02', user: { messages: 1 } });
    b.admit(alice, false);
    b.flush();
    expect(JSON.parse(readFileSync(file, 'utf8')).users['telegram:10'].messages).toBe(2);
  });

  it("counts made after taking in another process's new day are not lost", () => {
    const { a, b, file, advance } = twoProcesses({}, Date.UTC(2030, 0, 1, 23, 59, 59));
    a.admit(alice, false);
    a.flush();
    advance(2_000);
    b.admit(alice, false); // b rolls over to Jan 2 and writes it
    b.flush();
    a.admit(alice, false); // a takes in Jan 2 from the file, then counts
    a.flush();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ day: '2030-01-02', users: { 'telegram:10': { messages: 2 } } });
  });

  it('the first process to write on a new day replaces the day before in the file', () => {
    const { a, b, file, advance } = twoProcesses({}, Date.UTC(2030, 0, 1, 23, 59, 59));
    b.admit(alice, false);
    b.flush();
    advance(2_000);
    a.admit(alice, false); // a rolls over: Jan 2
    a.flush();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ day: '2030-01-02', users: { 'telegram:10': { messages: 1 } } });
  });
});

describe('CostLedger on a shared file (several processes)', () => {
  it("adds each process's tokens and cost per model, today and this month; a new month starts from zero", () => {
    const file = join(workspace(), 'costs.json');
    let now = Date.UTC(2030, 0, 31, 12);
    const { logger } = memoryLogger();
    const prices = () => ({ m: { input_per_mtok: 1, output_per_mtok: 2 } });
    const ledger = () => new CostLedger(file, prices, logger, () => now, { shared: true });
    const a = ledger();
    const b = ledger();
    a.answered('m', 1, { promptTokens: 1_000_000, completionTokens: 0 });
    b.answered('m', 1, { promptTokens: 0, completionTokens: 1_000_000 });
    b.answered('other', 1, { promptTokens: 10, completionTokens: 1 });
    a.flush();
    b.flush();
    const m = { promptTokens: 1_000_000, completionTokens: 1_000_000, cost: 3 };
    expect(b.figures().find((f) => f.model === 'm')).toEqual({ model: 'm', today: m, month: m });
    expect(a.figures().map((f) => f.model)).toEqual(['m', 'other']);
    expect(a.figures()[0]).toEqual({ model: 'm', today: m, month: m });

    now = Date.UTC(2030, 1, 1, 0, 1); // Feb 1
    a.answered('m', 1, { promptTokens: 1_000_000, completionTokens: 0 });
    a.flush();
    b.flush();
    const feb = { promptTokens: 1_000_000, completionTokens: 0, cost: 1 };
    expect(b.figures().find((f) => f.model === 'm')).toEqual({ model: 'm', today: feb, month: feb });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ day: '2030-02-01', month: '2030-02' });
  });
});
