import type { Logger } from '../log.ts';

/** How often the heap is measured, and how many measurements in a row must be over the limit. */
export const HEAP_SAMPLE_MS = 2_000;
export const HEAP_SAMPLES_OVER = 3;
/** sysexits EX_TEMPFAIL: a temporary condition, try again; pm2 (autorestart) and systemd (Restart=on-failure) restart on it. */
export const HEAP_EXIT_CODE = 75;

const MB = 1024 * 1024;

export interface MemoryWatchdogOptions {
  /** server.max_heap_mb, read at each measurement so a config reload applies; 0 turns the watchdog off. */
  limitMb: () => number;
  /** Called once, when the heap stayed over the limit for HEAP_SAMPLES_OVER measurements in a row. */
  onExceeded: () => void;
  log: Logger;
  /** V8's heap in use (live objects and garbage not yet collected), in bytes. */
  heapUsed?: () => number;
}

/**
 * Restarts a daemon whose heap keeps growing before it runs out of memory mid-turn. One
 * measurement over the limit may be garbage V8 has not collected yet; several in a row, seconds
 * apart, is memory the daemon holds. The exit goes through the graceful stop (drain, then exit),
 * and the journal keeps whatever did not finish for the next start.
 */
export class MemoryWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private over = 0;
  private fired = false;

  constructor(private readonly options: MemoryWatchdogOptions) {}

  start(): void {
    this.timer = setInterval(() => this.measure(), HEAP_SAMPLE_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Current heap in use, in MB (for the status report). */
  heapUsedMb(): number {
    return Math.round((this.options.heapUsed ?? defaultHeapUsed)() / MB);
  }

  private measure(): void {
    const limitMb = this.options.limitMb();
    const heapMb = this.heapUsedMb();
    this.over = limitMb > 0 && heapMb > limitMb ? this.over + 1 : 0;
    if (this.over < HEAP_SAMPLES_OVER || this.fired) return;
    this.fired = true;
    this.stop();
    this.options.log.warn(
      { heapMb, limitMb, samples: HEAP_SAMPLES_OVER, sampleEveryMs: HEAP_SAMPLE_MS },
      'heap above server.max_heap_mb: finishing replies in flight, then exiting for pm2 to restart the daemon',
    );
    this.options.onExceeded();
  }
}

function defaultHeapUsed(): number {
  return process.memoryUsage().heapUsed;
}
