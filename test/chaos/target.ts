import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../helpers/daemon.ts';
import type { FakeClock } from '../helpers/fake-clock.ts';
import { journaledIds, pendingIds } from './score.ts';

/** One process of what the chaos run SIGKILLs. */
export interface ChaosProcess {
  /** `daemon #3`, `agent #5`: how the result names its output. */
  name: string;
  daemon: Daemon;
  /** It sends the replies: a kill while a platform takes one may leave that chunk in doubt. */
  delivers: boolean;
}

/**
 * What the chaos run kills and starts again, and how it learns what the bot accepted and whether
 * work is left: the single daemon on its journal (DaemonTarget), or a deployment of several
 * processes on Redis (DeploymentTarget). The engine sees only this.
 */
export interface ChaosTarget {
  readonly workspace: string;
  /**
   * Starts the processes, before the first message. The single daemon is not waited for (a kill
   * may land in its first start-up too); a deployment is (see DeploymentTarget.start).
   */
  start(): Promise<void>;
  /** The process the next SIGKILL hits. */
  victim(): ChaosProcess;
  /** Starts a process in the place of one just killed (same role); does not wait for it to be up. */
  replace(killed: ChaosProcess): void;
  /** Every process started so far, the killed ones too, in order. */
  processes(): ChaosProcess[];
  /** Processes started in place of killed ones. */
  restarts(): number;
  /** Waits until every live process is up. */
  ready(timeoutMs: number): Promise<void>;
  /** Which of `ids` the bot accepted for good (journaled, or recorded in Redis as seen). */
  accepted(ids: readonly string[]): Promise<Set<string>>;
  /** No event is left unacknowledged: nothing is being answered or delivered. */
  idle(): Promise<boolean>;
  /** Log lines that tell a start found unfinished work of a killed process and took it over; `what` names them. */
  replays: { msg: string; what: string };
  /** SIGTERM to every live process: did each exit 0? */
  stop(): Promise<boolean>;
  dispose(): Promise<void>;
}

/** The single daemon (role all, local bus): started again on the same workspace after each kill. */
export class DaemonTarget implements ChaosTarget {
  readonly workspace = mkdtempSync(join(tmpdir(), 'mybot-e2e-'));
  readonly replays = { msg: 'replaying events not acknowledged before the last stop', what: 'starts that replayed the journal' };
  private readonly daemons: ChaosProcess[] = [];
  private readonly journal = join(this.workspace, '.mybot', 'journal.jsonl');

  constructor(
    private readonly config: () => Record<string, unknown>,
    private readonly clock: FakeClock,
    /** Written into the workspace before the first start. */
    private readonly files: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    this.spawn();
  }

  victim(): ChaosProcess {
    return this.daemons.at(-1)!;
  }

  replace(): void {
    this.spawn();
  }

  processes(): ChaosProcess[] {
    return this.daemons;
  }

  restarts(): number {
    return this.daemons.length - 1;
  }

  ready(timeoutMs: number): Promise<void> {
    return this.victim().daemon.ready(timeoutMs);
  }

  async accepted(ids: readonly string[]): Promise<Set<string>> {
    const journaled = journaledIds(this.readJournal());
    return new Set(ids.filter((id) => journaled.has(id)));
  }

  async idle(): Promise<boolean> {
    return pendingIds(this.readJournal()).size === 0;
  }

  async stop(): Promise<boolean> {
    return (await this.victim().daemon.kill('SIGTERM')) === 0;
  }

  async dispose(): Promise<void> {
    for (const { daemon } of this.daemons) await daemon.kill('SIGKILL').catch(() => undefined);
    rmSync(this.workspace, { recursive: true, force: true });
  }

  private spawn(): void {
    const files = this.daemons.length === 0 ? { files: this.files } : {};
    const daemon = Daemon.spawn({ config: this.config(), workspace: this.workspace, ...files, ...this.clock.daemonOptions() });
    this.daemons.push({ name: `daemon #${this.daemons.length + 1}`, daemon, delivers: true });
  }

  private readJournal(): string {
    try {
      return existsSync(this.journal) ? readFileSync(this.journal, 'utf8') : '';
    } catch {
      return '';
    }
  }
}
