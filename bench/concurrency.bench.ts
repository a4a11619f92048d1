/**
 * Concurrency: in 200 group chats 5 members each send a message at once, the fake LLM takes 100 ms
 * per answer. Each session answers its messages one after the other, all sessions side by side, so
 * the ideal is 5 x 100 ms from the first message to the last reply at the fake. Every chat must
 * get its 5 replies in the order of its messages. Five members, not one: messages one user queues
 * in a chat while the agent answers are answered together, in one turn.
 */
import type { Bench } from './table.ts';
import { LoadRig } from './load.ts';

const SESSIONS = 200;
const MESSAGES = 5;
const LLM_MS = 100;
const TARGET = 1.15;
const FIRST_CHAT = -1_007_000_000_000;
const FIRST_MEMBER = 300_000;
/** Measured on a daemon that has answered a few hundred messages, as one in production has: its code is compiled. */
const WARMUP = 300;

export const run: Bench = async () => {
  const rig = await LoadRig.start();
  try {
    await rig.drive({ total: WARMUP, chats: WARMUP, firstChat: FIRST_MEMBER + MESSAGES, window: 50 });
    rig.llm.setLatency(LLM_MS);
    const cpuBefore = rig.cpuMs();
    // the fake platform and LLM run in this process: their CPU counts against the same 2 cores
    const fakesCpuBefore = process.cpuUsage();
    const start = Date.now();
    for (let m = 0; m < MESSAGES; m++) {
      for (let s = 0; s < SESSIONS; s++) rig.telegram.userSays({ chatId: FIRST_CHAT - s, chatType: 'supergroup', userId: FIRST_MEMBER + m, mention: true, text: `m${m}` });
    }
    const byChat = new Map<number, { texts: string[]; last: number }>();
    let received = 0;
    await rig.until(() => {
      for (const reply of rig.takeReplies()) {
        const chat = byChat.get(reply.chatId) ?? { texts: [], last: 0 };
        chat.texts.push(reply.text);
        chat.last = Math.max(chat.last, reply.at);
        byChat.set(reply.chatId, chat);
        received++;
      }
      return received >= SESSIONS * MESSAGES;
    }, `${SESSIONS * MESSAGES} replies`);
    const cpuPerMessage = (rig.cpuMs() - cpuBefore) / (SESSIONS * MESSAGES);
    const fakesCpu = process.cpuUsage(fakesCpuBefore);
    const fakesCpuPerMessage = (fakesCpu.user + fakesCpu.system) / 1000 / (SESSIONS * MESSAGES);
    const expected = Array.from({ length: MESSAGES }, (_, m) => `echo: m${m}`).join('|');
    const inOrder = [...byChat.values()].filter((c) => c.texts.join('|') === expected).length;
    const makespan = Math.max(...[...byChat.values()].map((c) => c.last)) - start;
    const ideal = MESSAGES * LLM_MS;
    const ratio = makespan / ideal;
    return [
      {
        figure: `concurrency: ${SESSIONS} sessions x ${MESSAGES} msgs, LLM ${LLM_MS} ms; in order: ${inOrder}/${SESSIONS}; CPU per msg: daemon ${cpuPerMessage.toFixed(2)} ms, fakes ${fakesCpuPerMessage.toFixed(2)} ms`,
        value: makespan,
        unit: 'ms',
        baseline: { label: `ideal ${MESSAGES} x ${LLM_MS} ms`, value: ideal },
        ratio,
        target: `<= ${TARGET}x, all in order`,
        pass: ratio <= TARGET && inOrder === SESSIONS,
      },
    ];
  } finally {
    await rig.close();
  }
};
