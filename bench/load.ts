/**
 * What the load benchmarks share: the real daemon (as bench/daemon-main.ts runs it) on fake
 * Telegram and a fake LLM, its resident memory, the replies as they reach the fake, and a driver
 * that keeps a fixed number of messages in flight, so the daemon gets them as fast as it answers.
 */
import { readFileSync } from 'node:fs';
import { FakeOpenAI } from '../test/fakes/openai.ts';
import { FakeTelegram, type RecordedRequest } from '../test/fakes/telegram.ts';
import { fakesConfig } from '../test/helpers/config.ts';
import { Daemon } from '../test/helpers/daemon.ts';

export interface Reply {
  chatId: number;
  text: string;
  /** Date.now() when the sendMessage request reached the fake. */
  at: number;
}

/** USER_HZ of /proc/<pid>/stat: 100 on every Linux architecture that runs Node (`getconf CLK_TCK`). */
const CLOCK_TICKS_PER_S = 100;
/** A stalled daemon fails the benchmark instead of hanging it. */
const STALL_MS = 30_000;

export class LoadRig {
  /** Replies not yet taken by `takeReplies`, in the order their requests reached the fake. */
  private replies: Reply[] = [];
  private open: RecordedRequest[] = [];
  private errorLine: string | undefined;
  private failedSends = 0;

  private constructor(
    readonly telegram: FakeTelegram,
    readonly llm: FakeOpenAI,
    readonly daemon: Daemon,
  ) {
    // from here on the log goes by unread, as it would to a file: parsing 200,000 lines here would
    // take CPU from the daemon. Only errors are kept, to fail the benchmark with.
    for (const stream of [daemon.child.stdout!, daemon.child.stderr!]) {
      stream.removeAllListeners('data');
      stream.on('data', (chunk: Buffer) => {
        if (this.errorLine !== undefined) return;
        const text = chunk.toString('utf8');
        const at = text.search(/"level":(50|60)/);
        if (at < 0) return;
        const end = text.indexOf('\n', at);
        this.errorLine = text.slice(text.lastIndexOf('\n', at) + 1, end < 0 ? undefined : end);
      });
    }
  }

  /** The daemon at log level info, as in production, with Telegram and an instant LLM. */
  static async start(): Promise<LoadRig> {
    const [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    const daemon = await Daemon.start({
      entry: 'bench/daemon-main.ts',
      config: fakesConfig({ llm, telegram }),
      env: { MYBOT_LOG_LEVEL: 'info' },
    });
    const rig = new LoadRig(telegram, llm, daemon);
    await rig.until(() => telegram.heldPolls > 0, 'the daemon to poll Telegram');
    return rig;
  }

  /** Resident set size of the daemon process, in MiB. */
  rssMb(): number {
    const status = readFileSync(`/proc/${this.daemon.child.pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    if (kb === undefined) throw new Error(`no VmRSS in /proc/${this.daemon.child.pid}/status: is the daemon still running?`);
    return Number(kb) / 1024;
  }

  /** CPU time (user + system) the daemon process has used so far, in ms; /proc counts it in 10 ms ticks. */
  cpuMs(): number {
    const stat = readFileSync(`/proc/${this.daemon.child.pid}/stat`, 'utf8');
    // the fields after the command name, which is in parentheses and may hold spaces
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
  }

  /** Median of `count` RSS readings `everyMs` apart: one reading can land mid-allocation. */
  async steadyRssMb(count = 5, everyMs = 100): Promise<number> {
    const readings: number[] = [];
    for (let i = 0; i < count; i++) {
      if (i > 0) await sleep(everyMs);
      readings.push(this.rssMb());
    }
    return median(readings);
  }

  /** Replies that reached the fake since the last call (the fake's request log is emptied as it goes). */
  takeReplies(): Reply[] {
    const requests = this.telegram.requests;
    for (const r of requests) if (r.method === 'sendMessage') this.open.push(r);
    requests.length = 0;
    const stillOpen: RecordedRequest[] = [];
    for (const r of this.open) {
      if (r.status === undefined) stillOpen.push(r);
      else if (r.status === 200) this.replies.push({ chatId: Number(r.params.chat_id), text: String(r.params.text), at: r.at });
      else this.failedSends++;
    }
    this.open = stillOpen;
    this.check();
    const taken = this.replies;
    this.replies = [];
    return taken;
  }

  /**
   * Sends `total` messages, message i from private chat `firstChat + i % chats`, keeping at most
   * `window` of them unanswered; `onProgress` hears how many are answered as replies come in.
   * Resolves when all are answered.
   */
  async drive(o: { total: number; chats: number; firstChat: number; window: number; onProgress?: (answered: number) => void }): Promise<void> {
    let sent = 0;
    let answered = 0;
    let lastProgress = Date.now();
    while (answered < o.total) {
      while (sent < o.total && sent - answered < o.window) {
        this.telegram.userSays({ chatId: o.firstChat + (sent % o.chats), text: `message ${sent}` });
        sent++;
      }
      await tick();
      const replies = this.takeReplies().length;
      if (replies > 0) {
        answered += replies;
        lastProgress = Date.now();
        o.onProgress?.(answered);
      } else if (Date.now() - lastProgress > STALL_MS) {
        throw new Error(`the daemon stalled: ${answered} of ${o.total} messages answered, none in ${STALL_MS / 1000} s`);
      }
    }
  }

  /** Waits for a condition, taking replies meanwhile; fails after STALL_MS. */
  async until(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + STALL_MS;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${STALL_MS / 1000} s waiting for ${what}`);
      await tick();
      this.check();
    }
  }

  async close(): Promise<void> {
    await this.daemon.dispose();
    await Promise.all([this.telegram.close(), this.llm.close()]);
  }

  private check(): void {
    if (this.errorLine !== undefined) throw new Error(`the daemon logged an error: ${this.errorLine}`);
    if (this.failedSends > 0) throw new Error(`${this.failedSends} sendMessage call(s) failed at the fake: the benchmark broke a Telegram limit`);
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** A millisecond for the daemon and the fakes to work; the benchmarks poll replies this often. */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1));
}

/** A fixed pause between RSS readings (a sampling interval, not a wait for a condition). */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
