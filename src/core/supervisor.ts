import { isFatal } from './errors.ts';
import type { Worker, WorkerState } from './worker.ts';
import type { Logger } from '../log.ts';

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 60_000;
/** A worker that stayed up this long is healthy again: its backoff starts over. */
const HEALTHY_AFTER_MS = 60_000;

interface Supervised {
  worker: Worker;
  state: WorkerState;
  restarts: number;
  startedAt: number;
  lastError?: string;
  timer?: NodeJS.Timeout;
}

export interface WorkerStatus {
  name: string;
  state: WorkerState;
  restarts: number;
  lastError?: string;
}

/** Starts workers and restarts one that crashes, with exponential backoff, logging why. */
export class Supervisor {
  private readonly workers = new Map<string, Supervised>();
  private stopping = false;

  constructor(
    private readonly log: Logger,
    /** Called once a worker fails with an error no restart can fix (`isFatal`); the daemon should stop. */
    private readonly onFatal?: (error: unknown) => void,
  ) {}

  async start(worker: Worker): Promise<void> {
    const entry: Supervised = { worker, state: 'starting', restarts: 0, startedAt: Date.now() };
    this.workers.set(worker.name, entry);
    worker.onCrash = (error) => this.crashed(entry, error);
    await worker.start();
    entry.state = 'running';
  }

  /** Stops workers in the reverse order of their start. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const entry of [...this.workers.values()].reverse()) await this.stopOne(entry);
  }

  async stop(name: string): Promise<void> {
    const entry = this.workers.get(name);
    if (!entry) return;
    await this.stopOne(entry);
    this.workers.delete(name);
  }

  status(): WorkerStatus[] {
    return [...this.workers.values()].map(({ worker, state, restarts, lastError }) => ({
      name: worker.name,
      state,
      restarts,
      ...(lastError ? { lastError } : {}),
    }));
  }

  private async stopOne(entry: Supervised): Promise<void> {
    clearTimeout(entry.timer);
    if (entry.state === 'stopped') return;
    entry.state = 'stopping';
    try {
      await entry.worker.stop();
    } catch (err) {
      this.log.error({ err, worker: entry.worker.name }, 'worker failed to stop cleanly');
    }
    entry.state = 'stopped';
  }

  private crashed(entry: Supervised, error: unknown): void {
    if (this.stopping || entry.state === 'stopping' || entry.state === 'stopped' || entry.state === 'crashed') return;
    if (Date.now() - entry.startedAt > HEALTHY_AFTER_MS) entry.restarts = 0;
    entry.state = 'crashed';
    entry.lastError = error instanceof Error ? error.message : String(error);
    if (isFatal(error)) {
      this.log.fatal({ err: error, worker: entry.worker.name }, 'worker failed for good; not restarting');
      this.onFatal?.(error);
      return;
    }
    const delay = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** entry.restarts);
    this.log.error({ err: error, worker: entry.worker.name, restartInMs: delay }, 'worker crashed; restarting');
    entry.timer = setTimeout(() => void this.restart(entry), delay);
  }

  private async restart(entry: Supervised): Promise<void> {
    if (this.stopping) return;
    entry.restarts++;
    entry.startedAt = Date.now();
    entry.state = 'starting';
    try {
      await entry.worker.stop().catch(() => undefined);
      await entry.worker.start();
      entry.state = 'running';
      this.log.info({ worker: entry.worker.name, restarts: entry.restarts }, 'worker restarted');
    } catch (error) {
      entry.state = 'running'; // let crashed() take it from here
      this.crashed(entry, error);
    }
  }
}
