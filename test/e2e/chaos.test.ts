import { describe, it } from 'vitest';
import { chaosTiming, formatResult, runChaos } from '../chaos/engine.ts';
import { expectChaosTargetsMet } from '../helpers/chaos-targets.ts';

/**
 * The short chaos run (`npm run chaos` is the long one): the real daemon against fake Telegram,
 * Discord and LLM, SIGKILLed 6 times at random moments while 60 messages arrive over 25 sessions
 * on both platforms, and an every-minute scheduled job fires on a clock moved a minute at a time. The seed fixes the plan (sessions, kill times, replies), not the timing;
 * CHAOS_SEED=N picks another, and `npm run chaos -- --quick --seed N` replays one with its figures.
 */
describe('chaos: SIGKILLs at random moments', () => {
  it('loses nothing, answers nothing twice, keeps every session in order, leaks no secret', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? 20261125);
    const result = await runChaos({ messages: 60, kills: 6, seed, ...chaosTiming(60, 6), settleMs: 30_000 });
    process.stdout.write(`\nchaos (seed ${seed}):\n${formatResult(result)}\n`);
    expectChaosTargetsMet(result, seed, 60, 6);
  }, 90_000);
});
