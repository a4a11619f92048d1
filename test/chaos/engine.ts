import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadMediaCorpus } from '../helpers/media-corpus.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { Rng } from './rng.ts';
import { filesUnder, findSecrets } from './secrets.ts';
import { DeploymentTarget } from './deployment-target.ts';
import { score, type Score, type SentRecord } from './score.ts';
import { DaemonTarget, type ChaosTarget } from './target.ts';
import { ChaosTicker, TICK_JOB, tickJobFile, type TickScore } from './ticker.ts';
import { ChaosWorld, SECRETS } from './world.ts';

export interface ChaosOptions {
  /** User messages to send, spread over both platforms. */
  messages: number;
  /** SIGKILLs, each followed by a restart. */
  kills: number;
  seed: number;
  /** Pause between two user messages, ms (uniform). */
  gapMs: [number, number];
  /**
   * When each SIGKILL lands: with probability `startupShare`, this long after the spawn (ms,
   * uniform), in start-up or replay whatever the machine's speed; otherwise this long after the
   * daemon said it is up, while it receives, calls the LLM and delivers.
   */
  killMs: { startup: [number, number]; up: [number, number]; startupShare: number };
  /** After the last message and the last kill: how long to wait for the replies. */
  settleMs: number;
  /** Share of messages answered with a long, multi-chunk reply, and of those answered after a tool call. */
  longShare?: number;
  toolShare?: number;
  /** Share of messages that carry a file of the media corpus (test/corpus/media.json), the text as its caption. */
  mediaShare?: number;
  /** A deployment of a gateway and 3 agents on a redis-server of the run's own, instead of the single daemon. */
  redis?: boolean;
  /** A folder to write each process's output to (`gateway-3.log`, ...), to read after a run that missed a target. */
  logsDir?: string;
  /** Progress lines (the CLI prints them; the test stays quiet). */
  progress?: (line: string) => void;
}

export interface ChaosResult extends Score {
  restarts: number;
  /** The process each SIGKILL hit, in order: `daemon #1`, or `gateway #1`, `agent #3`, ... */
  victims: string[];
  durationMs: number;
  llmRequests: number;
  /** LLM calls beyond one per answered message and tool round: calls a kill cut short, made again. */
  llmCallsRepeated: number;
  /**
   * Unfinished work of a killed process taken over, from the logs (a lower bound: a SIGKILL can eat
   * the last lines): starts that replayed the journal, or streams another process took over.
   */
  replays: { count: number; what: string };
  /** Discord messages that catch-ups handed over, summed over the starts (one fetched again after a kill counts again). */
  discordCaughtUp: number;
  /** Where a token or API key showed up: daemon output, workspace files, bot messages. */
  secretsFound: string[];
  /** Messages that carried a file, and the file downloads the platforms served (a kill between a download and its save costs one more). */
  media: { sent: number; downloads: number };
  /** Did the last processes stop cleanly (SIGTERM → exit 0 for each)? */
  cleanExit: boolean;
  /** For each duplicated message: when each of its sends reached the platform, relative to the nearest kill. */
  duplicateDetails: string[];
  /**
   * Telegram replies with a chunk sent twice because a kill landed while Telegram was taking it:
   * the Bot API has no idempotency key, so a chunk whose answer the daemon never read is sent again.
   * Counted apart from `duplicated`, which keeps every other case.
   */
  telegramInDoubt: SentRecord[];
  /** The owner's every-minute job, on a clock moved a minute at a time through the run: each due time delivered once? */
  ticks: TickScore;
}

/** A kill this soon after Telegram received a chunk may have stopped the daemon before it read the answer. */
const IN_DOUBT_MS = 500;

/**
 * Timing for `messages` and `kills`: one kill in five lands during start-up and replay, the others
 * up to 3 s after the daemon is up; messages are spread so that sending lasts about as long as
 * the kills (a cycle is about 2.5 s where the daemon starts in one).
 */
export function chaosTiming(messages: number, kills: number): Pick<ChaosOptions, 'gapMs' | 'killMs'> {
  return {
    killMs: { startup: [100, 1_500], up: [50, 3_000], startupShare: 0.2 },
    gapMs: [20, Math.max(40, Math.round((2 * kills * 2_500) / messages) - 20)],
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The real daemon against fake Telegram, Discord and LLM: user messages over many sessions on both
 * platforms while the daemon is SIGKILLed at random moments and started again on the same workspace;
 * with `redis`, a deployment of a gateway and 3 agents on Redis, one of them SIGKILLed each time.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const rng = new Rng(options.seed);
  const say = options.progress ?? (() => undefined);
  const world = await ChaosWorld.start(rng);
  const sent: SentRecord[] = [];
  const kills: number[] = [];
  const victims: string[] = [];
  /** Kills of a process that sends replies: only those can leave a Telegram chunk in doubt. */
  const deliveryKills: number[] = [];
  const started = Date.now();
  // the daemons' wall clock (test/helpers/clock-preload.ts), moved a minute at a time by the ticker
  const clock = new FakeClock(Date.now());
  const ticker = new ChaosTicker(clock, new Rng(options.seed ^ 0x71c4));
  const tickTexts = () => world.discord.sentMessages(world.tickChannel).map((m) => m.content);
  const files = { [`schedules/${TICK_JOB}.md`]: tickJobFile(world.tickChannel) };
  const config = () => world.config();
  let target: ChaosTarget | undefined;

  const killer = async (target: ChaosTarget): Promise<void> => {
    for (let k = 0; k < options.kills; k++) {
      const victim = target.victim();
      const { daemon } = victim;
      if (rng.chance(options.killMs.startupShare)) await sleep(Math.max(0, daemon.spawnedAt + rng.int(...options.killMs.startup) - Date.now()));
      else {
        await daemon.ready(60_000);
        await sleep(rng.int(...options.killMs.up));
      }
      if (daemon.exitCode !== undefined) throw new Error(`${victim.name} exited by itself with ${daemon.exitCode}:\n${daemon.output.slice(-4000)}`);
      kills.push(Date.now());
      victims.push(victim.name);
      if (victim.delivers) deliveryKills.push(Date.now());
      await daemon.kill('SIGKILL');
      say(`kill ${k + 1}/${options.kills} (${victim.name}) at ${((Date.now() - started) / 1000).toFixed(1)} s; ${sent.length} messages sent`);
      target.replace(victim);
    }
  };

  const corpus = loadMediaCorpus();
  let mediaSent = 0;
  const sender = async (): Promise<void> => {
    for (let idx = 0; idx < options.messages; idx++) {
      await sleep(rng.int(...options.gapMs));
      const session = rng.pick(world.sessions);
      // a file's lines for the user follow the answer: kept short, they stay in its tagged chunk
      const file = rng.chance(options.mediaShare ?? 0.15) ? rng.pick(corpus).file : undefined;
      const parts = !file && rng.chance(options.longShare ?? 0.1) ? rng.int(12, 30) : 1;
      world.plans.set(idx, { parts, tool: rng.chance(options.toolShare ?? 0.1) });
      if (file) mediaSent++;
      const eventId = session.say(`m${idx} hello from ${session.key}`, file);
      sent.push({ idx, session, eventId, at: Date.now(), parts });
    }
  };

  try {
    target = options.redis
      ? await DeploymentTarget.create({ config, clock, files, password: SECRETS.redis, rng: new Rng(options.seed ^ 0x5e1d) })
      : new DaemonTarget(config, clock, files);
    const chaos = target;
    await chaos.start();
    let sendingDone = false;
    await Promise.all([Promise.all([killer(chaos), sender()]).then(() => (sendingDone = true)), ticker.run(chaos, () => sendingDone, [300, 1_500])]);
    await chaos.ready(60_000);
    say(`all ${sent.length} messages sent and ${kills.length} kills done; waiting for the replies`);
    const ids = sent.map((r) => r.eventId);
    const deadline = Date.now() + options.settleMs;
    // settled: every reply that can come has come, and no work is left unacknowledged
    const settled = async () => score(sent, await chaos.accepted(ids)).lost.length === 0 && (await chaos.idle()) && ticker.settled(tickTexts());
    while (Date.now() < deadline && !(await settled())) await sleep(250);
    const cleanExit = await chaos.stop();
    const result = score(sent, await chaos.accepted(ids));
    const processes = chaos.processes();
    if (options.logsDir) {
      mkdirSync(options.logsDir, { recursive: true });
      for (const p of processes) writeFileSync(join(options.logsDir, `${p.name.replace(' #', '-')}.log`), p.daemon.output);
    }
    const texts: Record<string, string> = {
      ...Object.fromEntries(processes.map((p) => [`${p.name} output`, p.daemon.output])),
      ...filesUnder(chaos.workspace, (path) => /^config\..*\.yaml$/.test(basename(path))),
      'bot messages': world.sessions.flatMap((s) => s.botTexts()).join('\n'),
    };
    const inDoubt = result.duplicated.filter((r) => r.session.platform === 'telegram' && sentTwiceAcrossAKill(world, r, deliveryKills));
    result.duplicated = result.duplicated.filter((r) => !inDoubt.includes(r));
    const ticks = ticker.score(tickTexts());
    // one call per delivered tick too
    const needed = result.deliveredRecords.reduce((n, r) => n + (world.plans.get(r.idx)?.tool ? 2 : 1), 0) + ticks.delivered;
    const lines = processes.flatMap((p) => p.daemon.lines);
    return {
      ...result,
      restarts: chaos.restarts(),
      victims,
      durationMs: Date.now() - started,
      llmRequests: world.llm.requests.length,
      llmCallsRepeated: Math.max(0, world.llm.requests.length - needed),
      replays: { count: lines.filter((l) => l.msg === chaos.replays.msg).length, what: chaos.replays.what },
      discordCaughtUp: lines.filter((l) => l.msg === 'caught up on messages sent while the gateway session was down').reduce((n, l) => n + Number(l['missed'] ?? 0), 0),
      secretsFound: findSecrets(SECRETS, texts),
      media: { sent: mediaSent, downloads: world.telegram.downloads.length + world.discord.downloads.length },
      cleanExit,
      duplicateDetails: [...result.duplicated, ...inDoubt].map((r) => `m${r.idx}@${r.session.key}: ${sendsOf(world, r.idx, kills)}`),
      telegramInDoubt: inDoubt,
      ticks,
    };
  } finally {
    await target?.dispose();
    await world.close();
    clock.dispose();
  }
}

/** Every chunk of the reply that Telegram took twice was first taken just before a kill, and again after it. */
function sentTwiceAcrossAKill(world: ChaosWorld, record: SentRecord, kills: readonly number[]): boolean {
  const firstTag = (text: string) => /\bm(\d+)-(\d+)\b/.exec(text)?.[0];
  const sends = new Map<string, number[]>();
  for (const r of world.telegram.requests) {
    if (r.method !== 'sendMessage' || r.status !== 200) continue;
    const tag = firstTag(String(r.params.text));
    if (tag?.startsWith(`m${record.idx}-`)) sends.set(tag, [...(sends.get(tag) ?? []), r.at]);
  }
  const twice = [...sends.values()].filter((times) => times.length > 1);
  return twice.length > 0 && twice.every(([first, second]) => kills.some((k) => k >= first! && k - first! <= IN_DOUBT_MS && k <= second!));
}

/** Each send of message `idx`'s reply chunks: HTTP status and ms from the nearest kill (negative: before it). */
function sendsOf(world: ChaosWorld, idx: number, kills: readonly number[]): string {
  const tag = new RegExp(`\\bm${idx}-\\d+\\b`);
  const sends = [
    ...world.telegram.requests.filter((r) => r.method === 'sendMessage' && tag.test(String(r.params.text))).map((r) => ({ at: r.at, status: r.status, text: String(r.params.text) })),
    ...world.discord.requests.filter((r) => r.method === 'POST' && tag.test(JSON.stringify(r.body))).map((r) => ({ at: r.at, status: r.status, text: JSON.stringify(r.body) })),
  ];
  return sends
    .map(({ at, status, text }) => {
      const nearest = kills.reduce((best, k) => (Math.abs(k - at) < Math.abs(best - at) ? k : best), Number.POSITIVE_INFINITY);
      return `${tag.exec(text)?.[0]} HTTP ${status ?? '-'} at ${at - nearest} ms from a kill`;
    })
    .join('; ');
}

/** `; killed: gateway 2, agent 4` when the kills hit processes of several roles. */
function killedByRole(victims: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const name of victims) {
    const role = name.replace(/ #\d+$/, '');
    counts.set(role, (counts.get(role) ?? 0) + 1);
  }
  return [...counts.keys()].some((role) => role !== 'daemon') ? `; killed: ${[...counts].map(([role, n]) => `${role} ${n}`).join(', ')}` : '';
}

/** The figures, one per line, as `npm run chaos` prints them. */
export function formatResult(r: ChaosResult): string {
  const apart = r.discordFirstContactMissed;
  return [
    `messages sent:            ${r.sent.telegram + r.sent.discord} (Telegram ${r.sent.telegram}, Discord ${r.sent.discord})`,
    `  Discord, counted apart: ${apart.length}${apart.length ? `  (${apart.map((s) => `m${s.idx}@${s.session.key}`).join(', ')})` : ''}`,
    `                          first message of a conversation, sent while the daemon was down: the catch-up reads only`,
    `                          conversations the bot served, and Discord lists no DM channels to a bot`,
    `  Discord, handed over by catch-ups after restarts: ${r.discordCaughtUp} (summed over the starts)`,
    `replies delivered:        ${r.delivered}`,
    `lost:                     ${r.lost.length}${r.lost.length ? `  (${r.lost.slice(0, 10).map((s) => `m${s.idx}@${s.session.key}`).join(', ')})` : ''}`,
    `duplicated:               ${r.duplicated.length}`,
    `  Telegram, counted apart: ${r.telegramInDoubt.length} reply chunk(s) sent again because a kill landed while Telegram was taking them`,
    `                          the Bot API has no idempotency key: a chunk whose answer the daemon never read is sent again`,
    ...r.duplicateDetails.map((d) => `    ${d}`),
    `out of order:             ${r.outOfOrder} chunk(s) in ${r.sessionsOutOfOrder.length} session(s)${r.sessionsOutOfOrder.length ? ` (${r.sessionsOutOfOrder.join(', ')})` : ''}`,
    ...r.orderDetails.map((d) => `    ${d}`),
    `scheduled job due times:  ${r.ticks.dues} (every minute, the clock moved a minute at a time); delivered ${r.ticks.delivered}, lost ${r.ticks.lost.length}, duplicated ${r.ticks.duplicated.length}${[...r.ticks.lost, ...r.ticks.duplicated].length ? `  (lost: ${r.ticks.lost.join(', ') || '-'}; duplicated: ${r.ticks.duplicated.join(', ') || '-'})` : ''}`,
    `restarts:                 ${r.restarts} (SIGKILL, then a fresh start on the same workspace${killedByRole(r.victims)})`,
    `messages with a file:     ${r.media.sent} (test/corpus/media.json); file downloads: ${r.media.downloads} (skipped files are not downloaded)`,
    `other bot messages:       ${r.untagged.length}${r.untagged.length ? `  (${r.untagged.slice(0, 3).join(' | ')})` : ''}`,
    `secrets in logs/files/replies: ${r.secretsFound.length}${r.secretsFound.length ? `  (${r.secretsFound.join(', ')})` : ''}`,
    `LLM requests:             ${r.llmRequests} (${r.llmCallsRepeated} made again after a kill cut them short)`,
    `${r.replays.what}: ${r.replays.count} (at least: a SIGKILL can eat the last log lines)`,
    `last stop (SIGTERM):      ${r.cleanExit ? 'exit 0' : 'NOT clean'}`,
    `duration:                 ${(r.durationMs / 1000).toFixed(1)} s`,
  ].join('\n');
}
