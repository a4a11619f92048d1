import { describe, expect, it } from 'vitest';
import { chaosTiming, formatResult, runChaos } from '../chaos/engine.ts';
import { expectChaosTargetsMet } from '../helpers/chaos-targets.ts';

/**
 * The short chaos run on a deployment (`npm run chaos -- --redis` is the long one): one gateway and
 * 3 agents on a redis-server of the run's own (with a password: a secret like the tokens), against
 * fake Telegram, Discord and LLM; 6 SIGKILLs, each of a process picked at random among the 4 and
 * followed by a fresh start of its role, while 60 messages arrive over 25 sessions and an
 * every-minute scheduled job fires. CHAOS_SEED=N picks another plan (the default one kills the
 * gateway too); `npm run chaos -- --redis --quick --seed N` replays one with its figures.
 */
describe('chaos on Redis: SIGKILLs spread over a gateway and 3 agents', () => {
  it('loses nothing, answers nothing twice, keeps every session in order, leaks no secret', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? 20261125);
    const result = await runChaos({ messages: 60, kills: 6, seed, redis: true, ...chaosTiming(60, 6), settleMs: 30_000 });
    process.stdout.write(`\nchaos on Redis (seed ${seed}):\n${formatResult(result)}\n`);
    expectChaosTargetsMet(result, seed, 60, 6);
    expect(result.victims.some((v) => v.startsWith('gateway')) && result.victims.some((v) => v.startsWith('agent')), `seed ${seed} kills ${result.victims.join(', ')}: both roles must be hit`).toBe(true);
    // a killed agent's partitions went to the others
    expect(result.replays.count, `seed ${seed}`).toBeGreaterThan(0);
  }, 120_000);
});
