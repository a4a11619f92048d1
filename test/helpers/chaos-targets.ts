import { expect } from 'vitest';
import type { ChaosResult } from '../chaos/engine.ts';

/**
 * The targets of a short chaos run, for the e2e tests (`npm run chaos` checks the same and prints
 * them): every kill followed by a start, nothing lost, doubled or out of order, no secret anywhere,
 * a clean last stop, and each due time of the every-minute job delivered once.
 */
export function expectChaosTargetsMet(result: ChaosResult, seed: number, messages: number, kills: number): void {
  expect(result.restarts, `seed ${seed}`).toBe(kills);
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
  expect(result.delivered + result.discordFirstContactMissed.length).toBe(messages);
  expect(result.discordFirstContactMissed.every((r) => result.deliveredRecords.every((d) => d.session !== r.session || d.idx > r.idx))).toBe(true);
}
