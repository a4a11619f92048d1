import { describe, expect, it } from 'vitest';
import { FAILURES_TO_OPEN } from '../../../src/agent/circuit-breaker.ts';
import { FailoverLlm } from '../../../src/agent/failover-llm.ts';
import type { Llm, LlmReply } from '../../../src/agent/llm.ts';
import { configSchema, type Config } from '../../../src/config/schema.ts';
import { LlmError } from '../../../src/core/errors.ts';
import { memoryLogger } from '../../helpers/log.ts';

type Settings = Config['llm'];

/** Clients that answer by the model they were built for; every call is recorded with the settings it saw. */
function world(llm: Partial<Settings>, answer: (settings: Settings) => LlmReply | LlmError) {
  const calls: Settings[] = [];
  let now = 1_000_000;
  const settings = configSchema.parse({ llm }).llm;
  const failover = new FailoverLlm({
    settings: () => settings,
    log: memoryLogger().logger,
    now: () => now,
    client: (read): Llm => ({
      chat: async () => {
        calls.push(read());
        const outcome = answer(read());
        if (outcome instanceof LlmError) throw outcome;
        return outcome;
      },
    }),
  });
  return { failover, calls, advance: (ms: number) => (now += ms), chat: () => failover.chat([{ role: 'user', content: 'hi' }], []) };
}

const ok = (content: string): LlmReply => ({ content, toolCalls: [] });

describe('FailoverLlm', () => {
  it('gives a fallback with its own api_base only its own api_key, never the primary one', async () => {
    const { chat, calls } = world(
      { model: 'a', api_base: 'http://one.test/v1', api_key: 'primary-key', fallbacks: [{ model: 'b' }, { model: 'c', api_base: 'http://two.test/v1' }, { model: 'd', api_base: 'http://three.test/v1', api_key: 'own-key' }] },
      (s) => (s.model === 'd' ? ok('from d') : new LlmError('down', true, { status: 503 })),
    );
    expect(await chat()).toMatchObject({ content: 'from d', model: 'd' });
    expect(calls.map((s) => [s.model, s.api_base, s.api_key])).toEqual([
      ['a', 'http://one.test/v1', 'primary-key'],
      ['b', 'http://one.test/v1', 'primary-key'],
      ['c', 'http://two.test/v1', undefined],
      ['d', 'http://three.test/v1', 'own-key'],
    ]);
  });

  it('opens after FAILURES_TO_OPEN failures, lets one call probe after the cooldown, and closes when it answers', async () => {
    let primaryUp = false;
    const { chat, calls, advance } = world({ model: 'a', cooldown_s: 10, fallbacks: [{ model: 'b' }] }, (s) =>
      s.model === 'b' || primaryUp ? ok(s.model) : new LlmError('the LLM answered HTTP 500', true, { status: 500 }),
    );
    for (let i = 0; i < FAILURES_TO_OPEN + 2; i++) expect((await chat()).model).toBe('b');
    expect(calls.filter((s) => s.model === 'a')).toHaveLength(FAILURES_TO_OPEN);
    advance(9_999);
    await chat();
    expect(calls.filter((s) => s.model === 'a')).toHaveLength(FAILURES_TO_OPEN);
    advance(2);
    await chat(); // the probe fails: open for another cooldown
    expect(calls.filter((s) => s.model === 'a')).toHaveLength(FAILURES_TO_OPEN + 1);
    await chat();
    expect(calls.filter((s) => s.model === 'a')).toHaveLength(FAILURES_TO_OPEN + 1);
    primaryUp = true;
    advance(10_001);
    expect((await chat()).model).toBe('a');
    expect((await chat()).model).toBe('a');
  });

  it('does not fail over on a refusal of the request itself (400), and asks models that cool down when nothing else is left', async () => {
    const bad = world({ model: 'a', fallbacks: [{ model: 'b' }] }, () => new LlmError('the LLM answered HTTP 400', false, { status: 400 }));
    await expect(bad.chat()).rejects.toThrow('HTTP 400');
    expect(bad.calls.map((s) => s.model)).toEqual(['a']);

    const down = world({ model: 'a', cooldown_s: 60, fallbacks: [{ model: 'b' }] }, () => new LlmError('reset', true));
    for (let i = 0; i < FAILURES_TO_OPEN; i++) await expect(down.chat()).rejects.toThrow('reset');
    down.calls.length = 0;
    await expect(down.chat()).rejects.toThrow('reset');
    expect(down.calls.map((s) => s.model)).toEqual(['a', 'b']);
  });
});
