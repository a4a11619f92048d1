import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HEAP_SAMPLE_MS, MemoryWatchdog } from '../../../src/server/memory-watchdog.ts';
import { memoryLogger } from '../../helpers/log.ts';

const MB = 1024 * 1024;

describe('MemoryWatchdog', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function watch(heapsMb: number[], limitMb = 100) {
    const { logger, lines } = memoryLogger();
    const heaps = [...heapsMb];
    let fired = 0;
    const watchdog = new MemoryWatchdog({ limitMb: () => limitMb, onExceeded: () => fired++, log: logger, heapUsed: () => (heaps.shift() ?? 0) * MB });
    watchdog.start();
    vi.advanceTimersByTime(HEAP_SAMPLE_MS * heapsMb.length);
    watchdog.stop();
    return { fired, lines };
  }

  it('fires once, with one log line, when the heap stays above the limit for three measurements in a row', () => {
    const { fired, lines } = watch([150, 150, 150, 150, 150]);
    expect(fired).toBe(1);
    expect(lines.filter((l) => l['limitMb'] === 100 && l['heapMb'] === 150)).toHaveLength(1);
  });

  it('does not fire on a peak that garbage collection takes back', () => {
    expect(watch([150, 150, 90, 150, 150, 60]).fired).toBe(0);
  });

  it('is off with a limit of 0', () => {
    expect(watch([5_000, 5_000, 5_000, 5_000], 0).fired).toBe(0);
  });
});
