/**
 * What the load benchmarks share: the real daemon (as bench/daemon-main.ts runs it) on fake
 * Telegram and a fake LLM, its resident memory, the replies as they reach the fake, and a driver
 * that keeps a fixed number of messages in flight, so the daemon gets them as fast as it answers.
 * The daemon may be several processes (a deployment on Redis, bench/redis-rig.ts): their replies
 * all reach the one fake.
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

/** What a burst of group messages (`sayInGroups`) brought: when the last reply came, how many chats got theirs in order. */
export interface GroupRun {
  /** From the start given to the last reply at the fake, in ms. */
  makespan: number;
  /** Chats that got one reply per message, in the order of the messages. */
  inOrder: number;
}

export interface GroupLoad {
  /** Chat ids count down from here (group ids are negative). */
  firstChat: number;
  chats: number;
  /** Messages per chat, each from another member, all mentioning the bot. */
  messages: number;
  /** Member ids count up from here. */
  firstMember: number;
}

export class LoadRig {
  /** Replies not yet taken by `takeReplies`, in the order their requests reached the fake. */
  private replies: Reply[] = [];
  private open: RecordedRequest[] = [];
  private errorLine: string | undefined;
  private failedSends = 0;

  readonly daemons: Daemon[] = [];

  private constructor(
    readonly telegram: FakeTelegram,
    readonly llm: FakeOpenAI,
  ) {}

  /** The daemon of `start`; of a rig over a deployment, its first process. */
  get daemon(): Daemon {
    return this.daemons[0]!;
  }

  /** The daemon at log level info, as in production, with Telegram and an instant LLM. */
  static async start(): Promise<LoadRig> {
    const [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    const daemon = await Daemon.start({
      entry: 'bench/daemon-main.ts',
      config: fakesConfig({ llm, telegram }),
      env: { MYBOT_LOG_LEVEL: 'info' },
    });
    const rig = LoadRig.over(telegram, llm);
    rig.watch(daemon);
    await rig.until(() => telegram.heldPolls > 0, 'the daemon to poll Telegram');
    return rig;
  }

  /** A rig on fakes started elsewhere; `watch` each process of the daemon once it is up. */
  static over(telegram: FakeTelegram, llm: FakeOpenAI): LoadRig {
    return new LoadRig(telegram, llm);
  }

  /** Counts `daemon` in: its errors fail the benchmark, `close` stops it. */
  watch(daemon: Daemon): void {
    this.daemons.push(daemon);
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

  /** Resident set size of the daemon process, in MiB. */
  rssMb(): number {
    const status = readFileSync(`/proc/${this.daemon.child.pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    if (kb === undefined) throw new Error(`no VmRSS in /proc/${this.daemon.child.pid}/status: is the daemon still running?`);
    return Number(kb) / 1024;
  }

  /** CPU time (user + system) the daemon process has used so far, in ms. */
  cpuMs(daemon: Daemon = this.daemon): number {
    return processCpuMs(daemon.child.pid!);
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
    const sendMore = () => {
      while (sent < o.total && sent - answered < o.window) {
        this.telegram.userSays({ chatId: o.firstChat + (sent % o.chats), text: `message ${sent}` });
        sent++;
      }
    };
    sendMore();
    await this.takeRepliesUntil(
      () => answered >= o.total,
      (replies) => {
        answered += replies.length;
        o.onProgress?.(answered);
        sendMore();
      },
      () => `${answered} of ${o.total} messages answered`,
    );
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

  /**
   * Each of `chats` groups gets `messages` messages at once, message m from member
   * `firstMember + m`, all mentioning the bot: none merges into another's turn (one user's quick
   * messages would be answered together). The fake LLM echoes them: `echo: m<m>`.
   */
  sayInGroups(o: GroupLoad): void {
    for (let m = 0; m < o.messages; m++) {
      for (let s = 0; s < o.chats; s++) this.telegram.userSays({ chatId: o.firstChat - s, chatType: 'supergroup', userId: o.firstMember + m, mention: true, text: `m${m}` });
    }
  }

  /** Waits for every reply to a `sayInGroups`; the makespan runs from `start` to the last reply at the fake. */
  async collectGroups(o: GroupLoad, start: number): Promise<GroupRun> {
    const byChat = new Map<number, { texts: string[]; last: number }>();
    let received = 0;
    await this.takeRepliesUntil(
      () => received >= o.chats * o.messages,
      (replies) => {
        for (const reply of replies) {
          const chat = byChat.get(reply.chatId) ?? { texts: [], last: 0 };
          chat.texts.push(reply.text);
          chat.last = Math.max(chat.last, reply.at);
          byChat.set(reply.chatId, chat);
        }
        received += replies.length;
      },
      () => `${received} of ${o.chats * o.messages} replies`,
    );
    const expected = Array.from({ length: o.messages }, (_, m) => `echo: m${m}`).join('|');
    return {
      inOrder: [...byChat.values()].filter((c) => c.texts.join('|') === expected).length,
      makespan: Math.max(...[...byChat.values()].map((c) => c.last)) - start,
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.daemons.map((daemon) => daemon.dispose()));
    await Promise.all([this.telegram.close(), this.llm.close()]);
  }

  /** Hands the replies to `onReplies` as they come until `done`; fails once none has come for STALL_MS. */
  private async takeRepliesUntil(done: () => boolean, onReplies: (replies: Reply[]) => void, progress: () => string): Promise<void> {
    let lastProgress = Date.now();
    while (!done()) {
      await tick();
      const replies = this.takeReplies();
      if (replies.length > 0) {
        lastProgress = Date.now();
        onReplies(replies);
      } else if (Date.now() - lastProgress > STALL_MS) {
        throw new Error(`the daemon stalled: ${progress()}, none in ${STALL_MS / 1000} s`);
      }
    }
  }

  private check(): void {
    if (this.errorLine !== undefined) throw new Error(`the daemon logged an error: ${this.errorLine}`);
    if (this.failedSends > 0) throw new Error(`${this.failedSends} sendMessage call(s) failed at the fake: the benchmark broke a Telegram limit`);
  }
}

/** CPU time (user + system) a process has used so far, in ms; /proc counts it in 10 ms ticks. */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // the fields after the command name, which is in parentheses and may hold spaces
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
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
