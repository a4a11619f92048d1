/**
 * Scaling out on Redis (bench/redis-rig.ts): the throughput of 1, 2 and 4 agent processes behind
 * one gateway, as a ratio to 1, in two regimes, each on its own deployment grown 1 → 2 → 4.
 *
 * (a) Bound by each process's own capacity: server.max_concurrency 32 per process and a fake LLM
 *     that takes 1 s, so one process answers at most 32 messages a second whatever the CPU. More
 *     processes, more slots: the ideal is N x. 400 group chats x 5 messages at once, each from
 *     another member (none merges into another's turn); every chat must get its 5 replies in order.
 * (b) Bound by the CPU: the same load with a 100 ms LLM and the default max_concurrency, so the
 *     processes work as fast as the cores let them. A reference: on a machine of few cores the
 *     processes (gateway, agents, redis-server, and the fakes in this process) share them, and the
 *     label says the rate at which the CPU used per message caps it.
 *
 * Each step starts from agents that have answered a few hundred messages (compiled code, open
 * connections), as in production. `--quick` keeps the shape of (a) (about 3 messages per slot of
 * the 4 processes) with fewer sessions, 8 slots a process and a 200 ms LLM.
 */
import { availableParallelism } from 'node:os';
import type { GroupLoad, GroupRun } from './load.ts';
import { cpuPerMessage, RedisRig, type CpuReading } from './redis-rig.ts';
import type { Bench, BenchRow } from './table.ts';

const AGENTS = [1, 2, 4];
const MESSAGES = 5;
const TARGETS: Record<number, number> = { 2: 1.8, 4: 3.3 };
const FIRST_CHAT = -1_009_000_000_000;
const FIRST_MEMBER = 400_000;
const WARMUP_CHAT = 700_000;

interface Regime {
  name: string;
  /** Messages answered at each step before it is measured. */
  warmup: number;
  sessions: number;
  llmMs: number;
  /** server.max_concurrency of each process; undefined: the default. */
  maxConcurrency?: number;
}

interface Step extends GroupRun {
  agents: number;
  perSecond: number;
  cpu: CpuReading;
}

export const run: Bench = async ({ quick }) => {
  const warmup = quick ? 100 : 200;
  const capacity: Regime = quick ? { name: '(a) capacity-bound', warmup, sessions: 100, llmMs: 200, maxConcurrency: 8 } : { name: '(a) capacity-bound', warmup, sessions: 400, llmMs: 1000, maxConcurrency: 32 };
  const cpu: Regime = { name: '(b) CPU-bound', warmup, sessions: quick ? 60 : 400, llmMs: 100 };
  return [...capacityRows(capacity, await measure(capacity, 0)), ...cpuRows(cpu, await measure(cpu, 1))];
};

/** One deployment, grown to each count of agents in turn, the same load at each. */
async function measure(regime: Regime, index: number): Promise<Step[]> {
  const rig = await RedisRig.start(regime.maxConcurrency === undefined ? {} : { max_concurrency: regime.maxConcurrency });
  try {
    const steps: Step[] = [];
    for (const [i, agents] of AGENTS.entries()) {
      await rig.scaleTo(agents);
      const offset = (index * AGENTS.length + i) * 10_000;
      rig.load.llm.setLatency(0);
      await rig.load.drive({ total: regime.warmup, chats: regime.warmup, firstChat: WARMUP_CHAT + offset, window: 50 });
      rig.load.llm.setLatency(regime.llmMs);
      const load: GroupLoad = { firstChat: FIRST_CHAT - offset, chats: regime.sessions, messages: MESSAGES, firstMember: FIRST_MEMBER };
      const before = await rig.cpuMs();
      const start = Date.now();
      rig.load.sayInGroups(load);
      const done = await rig.load.collectGroups(load, start);
      const total = regime.sessions * MESSAGES;
      steps.push({ ...done, agents, perSecond: total / (done.makespan / 1000), cpu: cpuPerMessage(before, await rig.cpuMs(), total) });
    }
    return steps;
  } finally {
    await rig.close();
  }
}

function shape(regime: Regime): string {
  const slots = regime.maxConcurrency === undefined ? 'default max_concurrency' : `max_concurrency ${regime.maxConcurrency} each`;
  return `${regime.sessions} sessions x ${MESSAGES} msgs, LLM ${regime.llmMs} ms, ${slots}`;
}

function capacityRows(regime: Regime, steps: Step[]): BenchRow[] {
  const [one, ...more] = steps as [Step, ...Step[]];
  const ideal = regime.maxConcurrency! * (1000 / regime.llmMs);
  const inOrder = (s: Step) => `in order: ${s.inOrder}/${regime.sessions}`;
  return [
    {
      figure: `redis scale-out ${regime.name}: 1 agent, ${shape(regime)}; ${inOrder(one)}`,
      value: one.perSecond,
      unit: 'msg/s',
      baseline: { label: `ideal ${regime.maxConcurrency} slots / ${regime.llmMs} ms`, value: ideal },
      ratio: one.perSecond / ideal,
      target: 'reference',
      ...(one.inOrder < regime.sessions ? { pass: false } : {}),
    },
    ...more.map((s) => ({
      figure: `redis scale-out ${regime.name}: ${s.agents} agents vs 1; ${inOrder(s)}`,
      value: s.perSecond,
      unit: 'msg/s',
      baseline: { label: '1 agent', value: one.perSecond },
      ratio: s.perSecond / one.perSecond,
      target: `>= ${TARGETS[s.agents]}x, all in order`,
      pass: s.perSecond / one.perSecond >= TARGETS[s.agents]! && s.inOrder === regime.sessions && one.inOrder === regime.sessions,
    })),
  ];
}

function cpuRows(regime: Regime, steps: Step[]): BenchRow[] {
  const [one] = steps as [Step, ...Step[]];
  const cores = availableParallelism();
  return steps.map((s) => {
    const { gateway, agents, redis, fakes } = s.cpu;
    const perMessage = gateway + agents + redis + fakes;
    const cap = (cores * 1000) / perMessage;
    return {
      figure:
        `redis scale-out ${regime.name}: ${s.agents === 1 ? `1 agent, ${shape(regime)}` : `${s.agents} agents vs 1`}; in order: ${s.inOrder}/${regime.sessions}; ` +
        `CPU per msg: gateway ${gateway.toFixed(2)}, agents ${agents.toFixed(2)}, redis ${redis.toFixed(2)}, fakes ${fakes.toFixed(2)} ms = ${perMessage.toFixed(2)} ms: ${cores} cores cap it at ${Math.round(cap)} msg/s; ` +
        `it kept ${((perMessage * s.perSecond) / 1000).toFixed(2)} of them busy`,
      value: s.perSecond,
      unit: 'msg/s',
      baseline: { label: '1 agent', value: one.perSecond },
      ratio: s.perSecond / one.perSecond,
      target: 'reference',
      ...(s.inOrder < regime.sessions ? { pass: false } : {}),
    };
  });
}
