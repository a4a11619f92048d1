import { afterEach } from 'vitest';
import type { Daemon } from './daemon.ts';

/**
 * For a describe block whose tests each start their own daemons and fakes: `daemon(d)` and
 * `later(close)` register them, and after each test the daemons are disposed (killed, workspace
 * removed) before the rest is closed, so no daemon outlives the fakes it talks to.
 */
export function cleanUpAfterEach(): { daemon: (daemon: Daemon) => Daemon; later: (...closers: Array<() => unknown>) => void } {
  const daemons: Daemon[] = [];
  const closers: Array<() => unknown> = [];
  afterEach(async () => {
    for (const daemon of daemons.splice(0)) await daemon.dispose();
    for (const close of closers.splice(0)) await close();
  });
  return {
    daemon: (daemon) => {
      daemons.push(daemon);
      return daemon;
    },
    later: (...more) => void closers.push(...more),
  };
}
