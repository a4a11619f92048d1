/**
 * Added latency of the Discord path: from a MESSAGE_CREATE dispatch leaving the fake gateway to
 * the reply's `POST /channels/{id}/messages` reaching the fake REST, with an instant fake LLM,
 * minus the fake's own loopback round trip, measured in the same run the same way through a
 * relay: another process that answers each MESSAGE_CREATE at once with a POST. The relay pays
 * what the daemon cannot avoid (two loopback hops, waking a second process on a shared CPU), so
 * the difference is what mybot adds: discord.js, journal, agent, LLM call, delivery.
 *
 * Messages go one at a time, mentioning the bot, spread over a channel and its threads, paced at
 * 25/s: discord.js holds requests back above 50/s (`globalRequestsPerSecond`, Discord's global
 * limit for a bot), which would measure the limiter, not the pipeline. The workspace has the
 * AGENT.md a new workspace gets, and the daemon logs at info, as in production.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeDiscord, type RestRequestRecord } from '../test/fakes/discord.ts';
import { FakeOpenAI } from '../test/fakes/openai.ts';
import { Daemon, PROJECT_ROOT } from '../test/helpers/daemon.ts';
import { percentile, type Bench, type BenchRow } from './table.ts';

const THREADS = 9;
const PACE_MS = 40;
const WARMUP = 50;
const TARGET_P50_MS = 3;
const TARGET_P99_MS = 15;
const MESSAGE_POST = /^\/channels\/\d+\/messages$/;

export const run: Bench = async ({ quick }) => {
  const n = quick ? 100 : 1_000;
  const [discord, llm] = await Promise.all([FakeDiscord.start(), FakeOpenAI.start()]);
  const daemon = await Daemon.start({
    config: {
      llm: { api_base: llm.url, model: 'fake', max_retries: 0 },
      channels: { discord: { enabled: true, bot_token: discord.token, api_base: discord.apiBase } },
    },
    files: { 'AGENT.md': readFileSync(join(PROJECT_ROOT, 'default_workspace', 'AGENT.md'), 'utf8') },
    env: { MYBOT_LOG_LEVEL: 'info' },
  });
  try {
    const channels = [discord.textChannelId, ...Array.from({ length: THREADS }, (_, i) => discord.addThread(discord.textChannelId, `bench ${i}`).id)];
    const arrived = watchReplies(discord);
    const samples: number[] = [];
    let nextAt = 0;
    for (let i = 0; i < WARMUP + n; i++) {
      await until(() => performance.now() >= nextAt);
      nextAt = performance.now() + PACE_MS;
      const reply = arrived.next();
      const t0 = performance.now();
      discord.userSays({ channelId: channels[i % channels.length], content: `message ${i}`, mentionBot: true });
      const t1 = await reply;
      if (i >= WARMUP) samples.push(t1 - t0);
      // the reply answered (and the typing call, were one made) before the next message
      await until(() => discord.requests.every((r) => r.status !== 0));
    }
    await daemon.dispose();
    const rtt = await relayRoundTrips(discord, channels, quick ? 100 : 300);
    const added = samples.map((s) => s - rtt).sort((a, b) => a - b);
    const row = (p: number, target: number): BenchRow => {
      const value = percentile(added, p);
      return {
        figure: `discord: added latency MESSAGE_CREATE → reply, p${p} (${n} msgs)`,
        value,
        unit: 'ms',
        baseline: { label: 'relay round trip', value: rtt },
        target: `p${p} <= ${target} ms`,
        pass: value <= target,
      };
    };
    return [row(50, TARGET_P50_MS), row(99, TARGET_P99_MS)];
  } finally {
    await daemon.dispose();
    await Promise.all([discord.close(), llm.close()]);
  }
};

/** Resolves, one reply at a time, with the moment its create-message request reached the fake. */
function watchReplies(discord: FakeDiscord): { next(): Promise<number> } {
  let waiter: ((at: number) => void) | undefined;
  const records = discord.requests;
  const push = records.push.bind(records);
  // the fake records a request as soon as its headers arrive, before reading the body
  records.push = (...added: RestRequestRecord[]) => {
    const at = performance.now();
    if (waiter && added.some((r) => r.method === 'POST' && MESSAGE_POST.test(r.path))) {
      const resolve = waiter;
      waiter = undefined;
      resolve(at);
    }
    return push(...added);
  };
  return { next: () => new Promise<number>((resolve) => (waiter = resolve)) };
}

/** The relay: a bare gateway client that answers each user message with one REST call, nothing else. */
const RELAY = `
import { WebSocket } from 'ws';
const [gateway, api, token] = process.argv.slice(1);
const ws = new WebSocket(gateway + '?v=10&encoding=json');
ws.on('message', (data) => {
  const { op, t, d } = JSON.parse(data.toString());
  if (op === 10) ws.send(JSON.stringify({ op: 2, d: { token, intents: (1 << 9) | (1 << 15), properties: {} } }));
  if (op === 0 && t === 'READY') process.stdout.write('ready\\n');
  if (op === 0 && t === 'MESSAGE_CREATE' && !d.author.bot) {
    fetch(api + '/v10/channels/' + d.channel_id + '/messages', {
      method: 'POST', headers: { authorization: 'Bot ' + token, 'content-type': 'application/json' }, body: JSON.stringify({ content: 'relay' }),
    }).then((res) => res.arrayBuffer(), () => undefined);
  }
});
`;

/** Median dispatch → POST time through the relay, paced and spread like the measured run. */
async function relayRoundTrips(discord: FakeDiscord, channels: string[], count: number): Promise<number> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', RELAY, discord.gatewayUrl, discord.apiBase, discord.token], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let ready = false;
    child.stdout.on('data', () => (ready = true));
    await until(() => ready);
    const arrived = watchReplies(discord);
    const times: number[] = [];
    let nextAt = 0;
    for (let i = 0; i < WARMUP + count; i++) {
      await until(() => performance.now() >= nextAt);
      nextAt = performance.now() + PACE_MS;
      const reply = arrived.next();
      const t0 = performance.now();
      discord.userSays({ channelId: channels[i % channels.length], content: `relay ${i}` });
      const t1 = await reply;
      if (i >= WARMUP) times.push(t1 - t0);
      await until(() => discord.requests.every((r) => r.status !== 0));
    }
    return percentile(times.sort((a, b) => a - b), 50);
  } finally {
    child.kill();
  }
}

/** Waits for a condition by yielding to the event loop, not by sleeping a fixed time. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}
