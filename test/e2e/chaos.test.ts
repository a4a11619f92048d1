import { describe, expect, it } from 'vitest';
import { chaosTiming, formatResult, runChaos } from '../chaos/engine.ts';

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
    expect(result.restarts, `seed ${seed}`).toBe(6);
    expect(result.lost.map((r) => `m${r.idx}@${r.session.key}`), `seed ${seed}`).toEqual([]);
    expect(result.duplicated.map((r) => `m${r.idx}@${r.session.key}`), `seed ${seed}`).toEqual([]);
    expect(result.orderDetails, `seed ${seed}`).toEqual([]);
    expect(result.untagged, `seed ${seed}`).toEqual([]);
    expect(result.secretsFound, `seed ${seed}`).toEqual([]);
    expect(result.cleanExit, `seed ${seed}`).toBe(true);
    // the owner's every-minute job: each due time the clock passed, delivered once across the kills
    expect(result.ticks.dues, `seed ${seed}`).toBeGreaterThanOrEqual(3);
    expect(result.ticks.lost, `seed ${seed}`).toEqual([]);
    expect(result.ticks.duplicated, `seed ${seed}`).toEqual([]);
    // Discord messages sent while the daemon was down are fetched and answered (so not lost), except the
    // first of a conversation: the catch-up reads only conversations the bot served before
    expect(result.delivered + result.discordFirstContactMissed.length).toBe(60);
    expect(result.discordFirstContactMissed.every((r) => result.deliveredRecords.every((d) => d.session !== r.session || d.idx > r.idx))).toBe(true);
  }, 90_000);
});
