/**
 * Preloaded into the daemon by e2e tests (`node --import tsx --import ./test/helpers/clock-preload.ts`,
 * see FakeClock): the daemon's wall clock (`Date.now()`, `new Date()`) runs `offset` ms ahead of the
 * real one, the offset read from the file named by FAKE_CLOCK_FILE and followed as the test moves it.
 *
 * Why not fake timers (@sinonjs/fake-timers): they would stop every timer of the process, the HTTP
 * clients' and the platform libraries' too, and a jump of two minutes would fire all their timeouts
 * at once. Here timers stay real; time only jumps forward, as after a machine wakes from sleep, which
 * the daemon must handle anyway (the scheduler looks at the clock again at least every second). The
 * offset lives in a file, so a daemon restarted on the same workspace goes on at the same fake time.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';

const file = process.env.FAKE_CLOCK_FILE;
if (file) {
  const RealDate = Date;
  const readOffset = (): number => {
    try {
      const value = Number(JSON.parse(readFileSync(file, 'utf8')).offsetMs);
      return Number.isFinite(value) ? value : 0;
    } catch {
      return offset; // a write caught half-way: keep the last offset
    }
  };
  let offset = 0;
  offset = readOffset();
  const now = (): number => RealDate.now() + offset;
  globalThis.Date = new Proxy(RealDate, {
    construct(target, args, newTarget) {
      return Reflect.construct(target, args.length === 0 ? [now()] : args, newTarget);
    },
    apply() {
      return new RealDate(now()).toString();
    },
    get(target, key, receiver) {
      return key === 'now' ? now : Reflect.get(target, key, receiver);
    },
  });
  // a stat poll, not fs.watch: it sees the test's atomic renames the same on every platform
  watchFile(file, { interval: 20, persistent: false }, () => {
    offset = readOffset();
  });
  process.once('exit', () => unwatchFile(file));
}
