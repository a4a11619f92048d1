import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CUT_OFF_NOTE } from '../../src/agent/loop.ts';
import { FakeOpenAI, type FakeReply, type FakeRequest } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { OPEN_ACCESS } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

/** Problems that make an OpenAI-compatible API reject a request: a tool call without its result, a result without its call. */
export function historyProblems(messages: Array<{ role: string; tool_calls?: Array<{ id: string }>; tool_call_id?: string }>): string[] {
  const problems: string[] = [];
  messages.forEach((m, i) => {
    if (m.role === 'assistant' && m.tool_calls?.length) {
      const answered = new Set<string>();
      for (let j = i + 1; j < messages.length && messages[j]!.role === 'tool'; j++) answered.add(messages[j]!.tool_call_id ?? '');
      for (const call of m.tool_calls) if (!answered.has(call.id)) problems.push(`message ${i}: tool call ${call.id} has no result`);
    }
    if (m.role === 'tool') {
      let k = i - 1;
      while (k >= 0 && messages[k]!.role === 'tool') k--;
      if (!messages[k]?.tool_calls?.some((c) => c.id === m.tool_call_id)) problems.push(`message ${i}: tool result ${m.tool_call_id} answers no call`);
    }
  });
  return problems;
}

/**
 * Scripted turns, chosen by a marker in the user's message: a tool call first, then what the model
 * says next. Like OpenAI's API, a history with a dangling tool call is refused with a 400.
 */
function scripted(req: FakeRequest): FakeReply {
  const problems = historyProblems(req.messages);
  if (problems.length > 0) return { fault: 'status', status: 400, message: `Invalid 'messages': ${problems[0]}` };
  const user = String([...req.messages].reverse().find((m) => m.role === 'user')?.content ?? '');
  const first = req.messages.at(-1)?.role === 'user';
  if (user.includes('[unknown-tool]')) return first ? { toolCalls: [{ name: 'launch_rockets', arguments: '{}' }] } : { content: 'I have no such tool.' };
  if (user.includes('[bad-args]')) return first ? { toolCalls: [{ name: 'read_file', arguments: '{"path": ' }] } : { content: 'I could not read it.' };
  if (user.includes('[tool-then-500]')) return first ? { toolCalls: [{ name: 'list_files', arguments: '{}' }] } : { fault: 'status', status: 500 };
  return { content: `echo: ${user}` };
}

/**
 * The LLM misbehaves: timeouts, 429, 5xx, a stream cut in the middle, a body that is not JSON, a
 * tool that does not exist, tool arguments that do not parse. Every message still gets an answer
 * or a short clear error, and the session stays valid: the next turn works and no request ever
 * carries a tool call without its result.
 */
describe('LLM faults: the real daemon against a misbehaving fake LLM', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let daemon: Daemon;
  let chat = 7100;

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    llm.setResponder(scripted);
    daemon = await Daemon.start({
      config: {
        llm: { api_base: llm.url, model: 'fake', max_retries: 0, timeout_s: 1 },
        // one try and one retry per turn
        agent: { max_turn_retries: 1, retry_backoff_ms: 10 },
        channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, ...OPEN_ACCESS } },
      },
    });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  /** Sends `text` in `chatId` and returns the bot's next message there. */
  const ask = async (chatId: number, text: string): Promise<string> => {
    const before = telegram.botMessages(chatId).length;
    telegram.userSays({ chatId, text });
    const reply = await waitFor(() => telegram.botMessages(chatId)[before], 15_000, `an answer to "${text}"`);
    return reply.text ?? '';
  };
  const requestFor = (text: string) => llm.requests.findLast((r) => r.messages.at(-1)?.role === 'user' && r.messages.at(-1)?.content === text)!;

  /** The message fails with `fault`, the user is told shortly and clearly, and the next turn carries a valid history. */
  const failsClearlyThenRecovers = async (setUp: () => void, expected: RegExp, cleanUp: () => void = () => undefined) => {
    const chatId = chat++;
    expect(await ask(chatId, 'before')).toBe('echo: before');
    setUp();
    const answer = await ask(chatId, 'the question');
    cleanUp();
    expect(answer).toMatch(expected);
    expect(answer.length).toBeLessThan(200);
    expect(answer).not.toMatch(/\bat .*\.ts:\d+|undefined|\[object/);
    expect(await ask(chatId, 'after')).toBe('echo: after');
    const history = requestFor('after').messages;
    expect(history.slice(1).map((m: { content: unknown }) => m.content)).toEqual(['before', 'echo: before', 'after']);
  };
  const unreachable = /^Sorry, I couldn't reach my language model just now\. Please try again in a minute\.$/;

  it('a timeout on every try: a short apology, then the next turn works', async () => {
    await failsClearlyThenRecovers(() => llm.setLatency(2_500), unreachable, () => llm.setLatency(0));
  });

  it('429 on every try: a short apology; 429 once: answered normally', async () => {
    await failsClearlyThenRecovers(() => llm.failNext(2, { fault: 'status', status: 429, retryAfterS: 0 }), unreachable);
    llm.failNext(1, { fault: 'status', status: 429, retryAfterS: 0 });
    expect(await ask(chat++, 'rate limited once')).toBe('echo: rate limited once');
  });

  it('5xx on every try: a short apology; a 503 once: answered normally', async () => {
    await failsClearlyThenRecovers(() => llm.failNext(2, { fault: 'status', status: 500 }), unreachable);
    llm.failNext(1, { fault: 'status', status: 503 });
    expect(await ask(chat++, 'overloaded once')).toBe('echo: overloaded once');
  });

  it('a stream cut in the middle: what arrived, with a note; a body that is not JSON: tried again, answered; on every try: a short apology', async () => {
    llm.failNext(1, { fault: 'cut-stream', content: 'half an answ' });
    expect(await ask(chat++, 'cut once')).toBe(`half an a${CUT_OFF_NOTE}`);
    llm.failNext(1, { fault: 'malformed' });
    expect(await ask(chat++, 'garbled once')).toBe('echo: garbled once');
    await failsClearlyThenRecovers(() => llm.failNext(2, { fault: 'malformed' }), unreachable);
  });

  it('a 400 (a request the provider refuses) is not retried; the user is told it needs the owner', async () => {
    const calls = llm.requests.length;
    await failsClearlyThenRecovers(() => llm.failNext(1, { fault: 'status', status: 400, message: 'bad request' }), /^Sorry, my language model refused the request \(.*400.*\)\. The bot's owner may need to fix its settings\.$/);
    expect(llm.requests.length - calls).toBe(3); // before, the refused one (no retry), after
  });

  it('401 and 403 are answered at once after exactly one request; the log names the key to fix, once', async () => {
    const refusedKey = /^Sorry, my language model turned me away: it did not accept the bot's API key\. The bot's owner needs to fix its settings\.$/;
    for (const status of [401, 403, 401]) {
      const calls = llm.requests.length;
      await failsClearlyThenRecovers(() => llm.failNext(1, { fault: 'status', status, message: 'Incorrect API key provided' }), refusedKey);
      expect(llm.requests.length - calls).toBe(3); // before, the refused one (no retry), after
    }
    // told again after the LLM worked in between: once per outage, never once per message
    const told = daemon.lines.filter((l) => String(l.msg).startsWith('the LLM endpoint refused the API key'));
    expect(told.map((l) => l.status)).toEqual([401, 403, 401]);
    expect(String(told[0]!.msg)).toContain('llm.api_key');
    const twice = chat;
    llm.failNext(2, { fault: 'status', status: 401 });
    expect(await ask(twice, 'one')).toMatch(refusedKey);
    expect(await ask(twice, 'two')).toMatch(refusedKey);
    expect(daemon.lines.filter((l) => String(l.msg).startsWith('the LLM endpoint refused the API key'))).toHaveLength(4);
    expect(await ask(twice, 'three')).toBe('echo: three');
    chat++;
  });

  it('413 (too large) is answered at once after exactly one request, with what the user can do', async () => {
    const calls = llm.requests.length;
    await failsClearlyThenRecovers(() => llm.failNext(1, { fault: 'status', status: 413, message: 'Request too large' }), /^Sorry, that was too much for my language model at once\. Send something shorter, or \/compact or \/clear our conversation\.$/);
    expect(llm.requests.length - calls).toBe(3);
  });

  it('404 and 422 are not retried either', async () => {
    for (const status of [404, 422]) {
      const calls = llm.requests.length;
      await failsClearlyThenRecovers(() => llm.failNext(1, { fault: 'status', status }), new RegExp(`^Sorry, my language model refused the request \\(answered HTTP ${status}.*\\)\\. The bot's owner may need to fix its settings\\.$`));
      expect(llm.requests.length - calls).toBe(3);
    }
  });

  it('408 and 409 are tried again', async () => {
    for (const status of [408, 409]) {
      llm.failNext(1, { fault: 'status', status });
      expect(await ask(chat++, `retried after ${status}`)).toBe(`echo: retried after ${status}`);
    }
  });

  it('an unknown tool and unparsable tool arguments: the model is told, and answers', async () => {
    const chatId = chat++;
    expect(await ask(chatId, 'fire [unknown-tool]')).toBe('I have no such tool.');
    expect(llm.requests.at(-1)!.messages.at(-1)).toMatchObject({ role: 'tool', content: expect.stringMatching(/^Error: there is no tool named 'launch_rockets'\. Available: /) });
    expect(await ask(chatId, 'read [bad-args]')).toBe('I could not read it.');
    expect(llm.requests.at(-1)!.messages.at(-1)).toMatchObject({ role: 'tool', content: expect.stringMatching(/^Error: the arguments of read_file are not valid JSON/) });
    expect(await ask(chatId, 'after the tools')).toBe('echo: after the tools');
    expect(historyProblems(requestFor('after the tools').messages)).toEqual([]);
  });

  it('a tool call whose follow-up fails for good leaves no dangling tool call in the history', async () => {
    const chatId = chat++;
    expect(await ask(chatId, 'list [tool-then-500]')).toMatch(unreachable);
    expect(await ask(chatId, 'and now?')).toBe('echo: and now?');
    const history = requestFor('and now?').messages;
    expect(historyProblems(history)).toEqual([]);
    expect(history.some((m: { tool_calls?: unknown }) => m.tool_calls)).toBe(false);
  });

  it('a session file torn by a full disk (a tool call whose result line was cut) is repaired before it reaches the model', async () => {
    const chatId = chat++;
    const ts = Date.now();
    const lines = [
      { role: 'user', content: 'list my files', ts, eventId: 'old-1' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_torn', name: 'list_files', arguments: '{}' }], ts },
    ].map((m) => JSON.stringify(m));
    // the tool result was cut by ENOSPC; the next turn, written once the disk had room, glued onto it
    const torn = `${lines.join('\n')}\n{"role":"tool","tool_call_id":"call_to${JSON.stringify({ role: 'user', content: 'hello again', ts, eventId: 'old-2' })}\n${JSON.stringify({ role: 'assistant', content: 'hi', ts })}\n`;
    writeFileSync(join(daemon.workspace, 'sessions', `telegram%3a${chatId}.jsonl`), torn, { mode: 0o600 });
    expect(await ask(chatId, 'still there?')).toBe('echo: still there?');
    const history = requestFor('still there?').messages;
    expect(history.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
  });

  it('no request the daemon made carried a tool call without its result', () => {
    expect(llm.requests.length).toBeGreaterThan(20);
    for (const request of llm.requests) expect(historyProblems(request.messages)).toEqual([]);
  });
});
