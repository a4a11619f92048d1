import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageLimiter } from '../../../src/agent/limits.ts';
import { UsageStore } from '../../../src/agent/usage-store.ts';
import { configSchema } from '../../../src/config/schema.ts';
import type { EventSource } from '../../../src/core/events.ts';
import { memoryLogger } from '../../helpers/log.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('UsageLimiter with bot accounts', () => {
  it("an account's own limits apply to its messages; the other accounts keep the global ones; counts are per account", () => {
    const dir = mkdtempSync(join(tmpdir(), 'mybot-usage-'));
    dirs.push(dir);
    const config = configSchema.parse({
      llm: { model: 'm' },
      limits: { per_user: { messages_per_minute: 3 } },
      channels: { telegram: { enabled: true, bot_token: '1:a', accounts: { public: { bot_token: '1:b', limits: { per_user: { messages_per_minute: 1 } } } } } },
    });
    const { logger } = memoryLogger();
    const limiter = new UsageLimiter(() => config, new UsageStore(join(dir, 'usage.json'), logger), logger, () => Date.UTC(2030, 0, 1));
    const viaPublic: EventSource = { channel: 'telegram.public', chatId: '10', userId: '10', chatType: 'private' };
    const viaDefault: EventSource = { ...viaPublic, channel: 'telegram' };
    expect(limiter.admit(viaPublic, false)).toEqual({ ok: true });
    expect(limiter.admit(viaPublic, false)).toMatchObject({ ok: false, limit: 'minute', notice: expect.stringContaining('1 messages a minute') });
    for (let i = 0; i < 3; i++) expect(limiter.admit(viaDefault, false)).toEqual({ ok: true });
    expect(limiter.admit(viaDefault, false)).toMatchObject({ ok: false, notice: expect.stringContaining('3 messages a minute') });
    expect(limiter.describe(viaPublic)).toBe('Limits: per user 1 messages a minute.');
  });
});
