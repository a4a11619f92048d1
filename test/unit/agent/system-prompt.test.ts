import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentWorker } from '../../../src/agent/agent-worker.ts';
import type { ChatMessage, Llm } from '../../../src/agent/llm.ts';
import { JsonlSessionStore } from '../../../src/agent/sessions.ts';
import { ToolRegistry } from '../../../src/agent/tools/registry.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { LocalBus } from '../../../src/core/local-bus.ts';
import { inbound } from '../../helpers/events.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { waitFor } from '../../helpers/wait.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('the system prompt', () => {
  it('is AGENT.md, looked at again at most once a second: an edit applies to the turns after that second', async () => {
    // only Date is faked: the turn's own promises and timers run as usual
    vi.useFakeTimers({ toFake: ['Date'] });
    const dir = mkdtempSync(join(tmpdir(), 'mybot-prompt-'));
    const promptFile = join(dir, 'AGENT.md');
    writeFileSync(promptFile, 'You are the first prompt.');
    const { logger } = memoryLogger();
    const bus = new LocalBus({ log: logger });
    const calls: ChatMessage[][] = [];
    const llm: Llm = {
      async chat(messages) {
        calls.push([...messages]);
        return { content: 'ok', toolCalls: [] };
      },
    };
    const config = configSchema.parse({});
    const worker = new AgentWorker({ bus, llm, sessions: new JsonlSessionStore(dir, () => 40, logger), tools: new ToolRegistry([]), config: () => config, systemPromptFile: promptFile, log: logger });
    await worker.start();
    await bus.run();
    const systemOf = async (n: number, id: string) => {
      await bus.publish(inbound('s', `message ${n}`, id));
      await waitFor(() => calls.length === n, 5_000, `LLM call ${n}`);
      return calls[n - 1]![0]!.content;
    };

    expect(await systemOf(1, 'e1')).toBe('You are the first prompt.');
    writeFileSync(promptFile, 'You are the second prompt.');
    vi.setSystemTime(Date.now() + 500);
    expect(await systemOf(2, 'e2')).toBe('You are the first prompt.');
    vi.setSystemTime(Date.now() + 600);
    expect(await systemOf(3, 'e3')).toBe('You are the second prompt.');
    await worker.stop();
  });
});
