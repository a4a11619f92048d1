/**
 * Concurrency: in 200 group chats 5 members each send a message at once, the fake LLM takes 100 ms
 * per answer. Each session answers its messages one after the other, all sessions side by side, so
 * the ideal is 5 x 100 ms from the first message to the last reply at the fake. Every chat must
 * get its 5 replies in the order of its messages. Five members, not one: messages one user queues
 * in a chat while the agent answers are answered together, in one turn.
 *
 * Measured alongside, as a reference: the floor (bench/client-floor.ts), the same LLM calls and
 * sendMessages made by a bare process with the same libraries, against the same fakes.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { PROJECT_ROOT } from '../test/helpers/daemon.ts';
import type { Bench } from './table.ts';
import { LoadRig, type GroupLoad, type GroupRun } from './load.ts';

const SESSIONS = 200;
const MESSAGES = 5;
const LLM_MS = 100;
const TARGET = 1.15;
const FIRST_CHAT = -1_007_000_000_000;
const FIRST_MEMBER = 300_000;
/** Measured on a daemon that has answered a few hundred messages, as one in production has: its code is compiled. */
const WARMUP = 300;
const LOAD: GroupLoad = { firstChat: FIRST_CHAT, chats: SESSIONS, messages: MESSAGES, firstMember: FIRST_MEMBER };

export const run: Bench = async () => {
  const rig = await LoadRig.start();
  try {
    await rig.drive({ total: WARMUP, chats: WARMUP, firstChat: FIRST_MEMBER + MESSAGES, window: 50 });
    rig.llm.setLatency(LLM_MS);
    const cpuBefore = rig.cpuMs();
    // the fake platform and LLM run in this process: their CPU counts against the same 2 cores
    const fakesCpuBefore = process.cpuUsage();
    const start = Date.now();
    rig.sayInGroups(LOAD);
    const daemon = await rig.collectGroups(LOAD, start);
    const cpuPerMessage = (rig.cpuMs() - cpuBefore) / (SESSIONS * MESSAGES);
    const fakesCpu = process.cpuUsage(fakesCpuBefore);
    const fakesCpuPerMessage = (fakesCpu.user + fakesCpu.system) / 1000 / (SESSIONS * MESSAGES);
    await rig.daemon.dispose();
    rig.llm.setLatency(0);
    const floor = await clientFloor(rig);
    const ideal = MESSAGES * LLM_MS;
    const baseline = { label: `ideal ${MESSAGES} x ${LLM_MS} ms`, value: ideal };
    const ratio = daemon.makespan / ideal;
    return [
      {
        figure: `concurrency: ${SESSIONS} sessions x ${MESSAGES} msgs, LLM ${LLM_MS} ms; in order: ${daemon.inOrder}/${SESSIONS}; CPU per msg: daemon ${cpuPerMessage.toFixed(2)} ms, fakes ${fakesCpuPerMessage.toFixed(2)} ms`,
        value: daemon.makespan,
        unit: 'ms',
        baseline,
        ratio,
        target: `<= ${TARGET}x, all in order`,
        pass: ratio <= TARGET && daemon.inOrder === SESSIONS,
      },
      {
        figure: `concurrency floor: the same LLM calls and sends from a bare client (openai + grammY, no daemon); CPU per msg ${floor.cpuPerMessage.toFixed(2)} ms`,
        value: floor.makespan,
        unit: 'ms',
        baseline,
        ratio: floor.makespan / ideal,
        target: 'reference',
      },
    ];
  } finally {
    await rig.close();
  }
};

async function clientFloor(rig: LoadRig): Promise<GroupRun & { cpuPerMessage: number }> {
  const args = [rig.llm.url, rig.telegram.apiRoot, rig.telegram.token, String(FIRST_CHAT), String(SESSIONS), String(MESSAGES)];
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/client-floor.ts', ...args], { cwd: PROJECT_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const exited = once(child, 'exit').then(() => ({ done: true as const, value: undefined }));
    const next = async (): Promise<string> => {
      const line = await Promise.race([lines.next(), exited]);
      if (line.done) throw new Error('the client floor exited before it was done');
      return line.value;
    };
    if ((await next()) !== 'warm') throw new Error('the client floor did not warm up');
    rig.takeReplies();
    rig.llm.setLatency(LLM_MS);
    const start = Date.now();
    child.stdin.write('go\n');
    const run = await rig.collectGroups(LOAD, start);
    const { cpuMs } = JSON.parse(await next()) as { cpuMs: number };
    return { ...run, cpuPerMessage: cpuMs / (SESSIONS * MESSAGES) };
  } finally {
    child.kill();
  }
}
