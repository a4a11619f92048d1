import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The wall clock of daemons started with `daemonOptions()` (see clock-preload.ts): set to a fixed
 * fake time at the start, then moved forward by the test. Real time keeps flowing on top of it.
 */
export class FakeClock {
  private offsetMs: number;
  private readonly dir = mkdtempSync(join(tmpdir(), 'mybot-clock-'));
  readonly file = join(this.dir, 'clock.json');

  constructor(start: number) {
    this.offsetMs = start - Date.now();
    this.write();
  }

  /** What the daemon's Date.now() returns now. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Moves the daemon's clock to `at` (never back). */
  set(at: number): void {
    if (at < this.now()) throw new Error(`the fake clock only moves forward: ${new Date(at).toISOString()} is before ${new Date(this.now()).toISOString()}`);
    this.offsetMs = at - Date.now();
    this.write();
  }

  advance(ms: number): void {
    this.set(this.now() + ms);
  }

  /** For Daemon.start: the preload and the file it reads. */
  daemonOptions(): { nodeArgs: string[]; env: Record<string, string> } {
    return { nodeArgs: ['--import', './test/helpers/clock-preload.ts'], env: { FAKE_CLOCK_FILE: this.file } };
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private write(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ offsetMs: this.offsetMs }));
    renameSync(tmp, this.file);
  }
}
