/**
 * Memory: the daemon's RSS once 10,000 private chats have each had one exchange and gone quiet,
 * against its RSS with no session at all, measured first on the same process.
 */
import type { Bench } from './table.ts';
import { LoadRig } from './load.ts';

const TARGET_MB = 150;
const FIRST_CHAT = 1_000_000;
const WINDOW = 64;
/** Long enough for what the last exchanges started (typing timers, the status file) to be done. */
const QUIET_MS = 1_000;

export const run: Bench = async ({ quick }) => {
  const sessions = quick ? 1_000 : 10_000;
  const rig = await LoadRig.start();
  try {
    const empty = await rig.steadyRssMb();
    await rig.drive({ total: sessions, chats: sessions, firstChat: FIRST_CHAT, window: WINDOW });
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const idle = await rig.steadyRssMb();
    const above = idle - empty;
    return [
      {
        figure: `memory: ${sessions.toLocaleString('en')} idle sessions, one exchange each: RSS above an empty daemon`,
        value: above,
        unit: 'MiB',
        baseline: { label: 'RSS with 0 sessions', value: empty },
        target: `<= ${TARGET_MB} MiB above`,
        pass: above <= TARGET_MB,
      },
    ];
  } finally {
    await rig.close();
  }
};
