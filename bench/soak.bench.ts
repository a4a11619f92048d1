/**
 * Soak: 100,000 messages through fake Telegram as fast as the daemon answers them (a fixed number
 * in flight), from 1,000 private chats in turn, so each session's history and context window
 * grow as in long use and no chat goes over Telegram's per-chat limit. The daemon's RSS at the
 * end is compared with its RSS after the warm-up (the first fifth), when its caches have filled.
 * The quick run is a smoke test: its sessions are still young at the end.
 */
import type { Bench } from './table.ts';
import { LoadRig, median } from './load.ts';

const TARGET = 1.1;
const FIRST_CHAT = 500_000;
const WINDOW = 64;
/** Often enough that each tenth of the run has samples; the quick run's tenth takes a fifth of a second. */
const SAMPLE_MS = { full: 250, quick: 25 };
const WARMUP_SHARE = 0.2;

export const run: Bench = async ({ quick }) => {
  const total = quick ? 2_000 : 100_000;
  const chats = 1_000;
  const rig = await LoadRig.start();
  try {
    const samples: Array<{ answered: number; rss: number }> = [];
    let nextSample = 0;
    const start = performance.now();
    await rig.drive({
      total,
      chats,
      firstChat: FIRST_CHAT,
      window: WINDOW,
      onProgress: (answered) => {
        if (performance.now() < nextSample) return;
        nextSample = performance.now() + (quick ? SAMPLE_MS.quick : SAMPLE_MS.full);
        samples.push({ answered, rss: rig.rssMb() });
      },
    });
    const seconds = (performance.now() - start) / 1000;
    const between = (from: number, to: number) => {
      const rss = samples.filter((s) => s.answered >= from * total && s.answered <= to * total).map((s) => s.rss);
      if (rss.length === 0) throw new Error(`soak: no RSS sample between ${from * 100}% and ${to * 100}% of the run; sample more often`);
      return median(rss);
    };
    // warm: a fifth of the run, and every chat has been heard from (a short run needs longer)
    const warm = Math.max(WARMUP_SHARE, chats / total);
    const afterWarmup = between(warm, warm + 0.1);
    const end = between(0.9, 1);
    const ratio = end / afterWarmup;
    return [
      {
        figure: `soak: ${total.toLocaleString('en')} msgs through Telegram (${Math.round(total / seconds)} msg/s), RSS at the end`,
        value: end,
        unit: 'MiB',
        baseline: { label: 'RSS after warm-up', value: afterWarmup },
        ratio,
        target: `<= ${TARGET}x (10% drift)`,
        pass: ratio <= TARGET,
      },
    ];
  } finally {
    await rig.close();
  }
};
