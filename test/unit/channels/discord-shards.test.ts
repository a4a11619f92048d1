import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CatchUp, type CatchUpMessage } from '../../../src/channels/discord/catch-up.ts';
import { CursorStore } from '../../../src/channels/discord/cursors.ts';
import { GatewayHealth } from '../../../src/channels/discord/gateway-health.ts';
import { onShards, shardOfDebugLine, shardOfGuild, shardOptions } from '../../../src/channels/discord/shards.ts';
import { memoryLogger } from '../../helpers/log.ts';

const testLog = memoryLogger().logger;

describe('shard arithmetic', () => {
  it('turns channels.discord.shards into discord.js options: auto as is, N as shards 0..N-1 of N', () => {
    expect(shardOptions('auto')).toEqual({ shards: 'auto' });
    expect(shardOptions(1)).toEqual({ shards: [0], shardCount: 1 });
    expect(shardOptions(3)).toEqual({ shards: [0, 1, 2], shardCount: 3 });
  });

  it("puts a guild on (id >> 22) % count, as Discord's docs work it out, and DMs on shard 0", () => {
    // the low 22 bits (worker, process, increment) play no part; the timestamp above them does
    expect(shardOfGuild('197038439483310086', 1)).toBe(0);
    expect(shardOfGuild(((5n << 22n) | 123n).toString(), 4)).toBe(1);
    expect(shardOfGuild(((6n << 22n) | 4_194_303n).toString(), 4)).toBe(2);
    expect(shardOfGuild(null, 4)).toBe(0);
  });

  it('reads the shard of a discord.js debug line, and names shards only when there are several', () => {
    expect(shardOfDebugLine('[WS => Shard 1] Invalid session; will attempt to resume: false')).toBe(1);
    expect(shardOfDebugLine('[WS => Manager] Fetched Gateway Information')).toBeUndefined();
    expect(onShards([1], 1)).toBe('');
    expect(onShards([1], 2)).toBe(' on shard 1 (of 2)');
    expect(onShards([0, 2], 3)).toBe(' on shards 0, 2 (of 3)');
  });
});

describe('GatewayHealth with several shards', () => {
  const NOW = 1_000_000;
  const ready = (id: number, lastAckedHeartbeatAt = NOW - 1_000) => ({ id, ready: true, lastAckedHeartbeatAt });

  it('is fine while every shard is ready and acknowledged; one shard reconnecting is named', () => {
    const health = new GatewayHealth();
    expect(health.problem([ready(0), ready(1)], NOW)).toBeUndefined();
    expect(health.problem([ready(0), { ...ready(1), ready: false }], NOW)).toBe('the gateway session is being re-established on shard 1 (of 2)');
    expect(health.problem([{ ...ready(0), ready: false }], NOW)).toBe('the gateway session is being re-established');
  });

  it('reports the one silent shard even when the other answers, and counts a new session per shard', () => {
    const health = new GatewayHealth();
    health.onDebugLine('[WS => Shard 0] First heartbeat sent, starting to beat every 1000ms');
    const silentSince = NOW - 63_000;
    expect(health.problem([ready(0), ready(1, silentSince)], NOW)).toBe('the Discord gateway has not acknowledged a heartbeat for 63 s on shard 1 (of 2)');
    expect(health.problem([ready(0, silentSince)], NOW)).toBe('the Discord gateway has not acknowledged a heartbeat for 63 s');
    health.onSessionStart(1, NOW - 500);
    expect(health.problem([ready(0), ready(1, silentSince)], NOW)).toBeUndefined();
    expect(health.problem([ready(0, silentSince), ready(1, silentSince)], NOW)).toBe('the Discord gateway has not acknowledged a heartbeat for 63 s on shard 0 (of 2)');
  });
});

describe('catch-up per shard', () => {
  let dir: string;
  let file: string;
  type Msg = CatchUpMessage;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mybot-shard-cursors-'));
    file = join(dir, 'discord-cursors.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("runs one shard's catch-up beside another's: each holds only its own channels, and a channel already held is left to its run", async () => {
    const cursors = new CursorStore(file, testLog);
    cursors.open('10', '100', '900');
    cursors.open('20', '200', '901');
    const handled: string[] = [];
    const fetched: string[] = [];
    const gates = new Map<string, () => void>();
    const catchUp = new CatchUp<Msg>({
      cursors,
      limits: () => ({ max: 50, maxAgeS: 1e9 }),
      fetchAfter: async (channelId) => {
        fetched.push(channelId);
        await new Promise<void>((resolve) => gates.set(channelId, resolve));
        return [{ id: channelId === '10' ? '150' : '250', channelId }];
      },
      isAddressed: () => true,
      handle: async (m) => void handled.push(m.id),
      paused: () => false,
      describeFailure: () => ({ message: 'x', retryable: true }),
      log: testLog,
    });
    const shard0 = catchUp.run({ covers: (channelId) => cursors.guildOf(channelId) === '900' });
    const shard1 = catchUp.run({ covers: (channelId) => cursors.guildOf(channelId) === '901' });
    const again = catchUp.run();
    await again;
    expect(fetched).toEqual(['10', '20']);
    catchUp.live({ id: '160', channelId: '10' });
    catchUp.live({ id: '260', channelId: '20' });
    expect(handled).toEqual([]);
    gates.get('20')!();
    await shard1;
    expect(handled).toEqual(['250', '260']);
    gates.get('10')!();
    await shard0;
    expect(handled).toEqual(['250', '260', '150', '160']);
  });

  it('reads a cursor file from before guilds were kept, and learns the guild from the next message there', () => {
    writeFileSync(file, JSON.stringify({ version: 1, channels: { 30: '300' } }));
    const cursors = new CursorStore(file, testLog);
    expect(cursors.entries()).toEqual([['30', '300']]);
    expect(cursors.guildOf('30')).toBeUndefined();
    cursors.open('30', '310', '903');
    const reread = new CursorStore(file, testLog);
    expect(reread.entries()).toEqual([['30', '300']]);
    expect(reread.guildOf('30')).toBe('903');
  });
});
