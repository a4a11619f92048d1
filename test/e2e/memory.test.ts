import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeOpenAI, type FakeRequest } from '../fakes/openai.ts';
import { FakeTelegram, type FakeMessage } from '../fakes/telegram.ts';
import { OPEN_ACCESS } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { lastUserText } from '../helpers/schedules.ts';
import { waitFor } from '../helpers/wait.ts';

const OWNER = 6001;
const ALICE = 6002;
const BOB = 6003;
const GROUP = -1_006_000_000_001;
const OWNER_FACT = 'OWNER-FACT-likes-green-tea';
const ALICE_FACT = 'ALICE-FACT-vegetarian';

describe('memory, end to end: who sees what the bot remembers, through the fake Telegram and LLM', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let daemon: Daemon;

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    daemon = await Daemon.start({
      config: {
        llm: { api_base: llm.url, model: 'fake', max_retries: 0 },
        agent: { debounce_ms: 0 },
        channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, ...OPEN_ACCESS, owner_user_ids: [OWNER] } },
      },
      files: { 'MEMORY.md': `# About my owner\n\n- ${OWNER_FACT}\n` },
    });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  const replies = (chatId: number): FakeMessage[] => telegram.botMessages(chatId);
  /** Sends a message and returns the bot's answer once it came. */
  const say = async (chatId: number, text: string, userId?: number): Promise<string> => {
    const before = replies(chatId).length;
    telegram.userSays({ chatId, text, ...(userId !== undefined ? { userId, mention: true } : {}) });
    const all = await waitFor(() => replies(chatId).length > before && replies(chatId), 15_000, `an answer in chat ${chatId}`);
    return all[before]!.text ?? '';
  };
  /** The system prompt of the request that answered `text`. */
  const promptFor = (text: string): string => {
    const request = llm.requests.find((r: FakeRequest) => lastUserText(r) === text);
    expect(request, `a request for '${text}'`).toBeDefined();
    return String(request!.messages[0].content);
  };
  const toolResult = (callId: string) => String(llm.requests.flatMap((r) => r.messages).find((m) => m.role === 'tool' && m.tool_call_id === callId)?.content);
  const aliceFile = () => join(daemon.workspace, 'memory', `telegram-${ALICE}.md`);

  it("a fact Alice asked to remember is in her private chat's prompt, not in Bob's, a group's or the owner's", async () => {
    llm.enqueue({ toolCalls: [{ id: 'w1', name: 'memory_write', arguments: JSON.stringify({ section: 'Food', text: `- ${ALICE_FACT}` }) }] }, { content: 'Noted: you are vegetarian.' });
    expect(await say(ALICE, 'remember that I am vegetarian')).toBe('Noted: you are vegetarian.');
    expect(toolResult('w1')).toMatch(/^saved to your memory of them/);
    expect(readFileSync(aliceFile(), 'utf8')).toBe(`## Food\n- ${ALICE_FACT}\n`);

    await say(ALICE, 'alice asks in private');
    await say(BOB, 'bob asks in private');
    await say(GROUP, 'alice asks in the group', ALICE);
    await say(OWNER, 'owner asks in private');
    await say(GROUP, 'owner asks in the group', OWNER);

    const alice = promptFor('alice asks in private');
    expect(alice).toContain(ALICE_FACT);
    expect(alice).toContain('memory_write');
    expect(alice).not.toContain(OWNER_FACT);
    for (const other of ['bob asks in private', 'alice asks in the group', 'owner asks in the group']) {
      expect(promptFor(other)).not.toContain(ALICE_FACT);
      expect(promptFor(other)).not.toContain(OWNER_FACT);
    }
    expect(promptFor('alice asks in the group')).toContain("This is a group chat: no one's memory is loaded here");
    const owner = promptFor('owner asks in private');
    expect(owner).toContain(OWNER_FACT);
    expect(owner).not.toContain(ALICE_FACT);
  });

  it("the tools reach only the asker's memory: Bob cannot read or search Alice's, Alice can; nothing in a group", async () => {
    llm.enqueue(
      {
        toolCalls: [
          { id: 'b1', name: 'read_file', arguments: JSON.stringify({ path: `memory/telegram-${ALICE}.md` }) },
          { id: 'b2', name: 'memory_search', arguments: JSON.stringify({ query: 'vegetarian' }) },
          { id: 'b3', name: 'memory_read', arguments: '{}' },
          { id: 'b4', name: 'list_files', arguments: '{}' },
        ],
      },
      { content: 'Nothing about Alice.' },
    );
    await say(BOB, 'what does alice eat?');
    expect(toolResult('b1')).toMatch(/^Error: 'memory\/telegram-6002\.md' belongs to the daemon and is not accessible/);
    expect(toolResult('b2')).toBe("nothing found for 'vegetarian'");
    expect(toolResult('b3')).toBe('(nothing remembered yet)');
    expect(toolResult('b4')).not.toMatch(/^memory\/$|^MEMORY\.md$/m);

    llm.enqueue({ toolCalls: [{ id: 'a1', name: 'memory_search', arguments: JSON.stringify({ query: 'VEGETARIAN' }) }] }, { content: 'You are vegetarian.' });
    await say(ALICE, 'what do I eat?');
    expect(toolResult('a1')).toBe(`memory/telegram-${ALICE}.md:2: - ${ALICE_FACT}`);

    llm.enqueue({ toolCalls: [{ id: 'g1', name: 'memory_write', arguments: JSON.stringify({ text: 'in a group' }) }] }, { content: 'Tell me in private.' });
    await say(GROUP, 'remember this for me', ALICE);
    expect(toolResult('g1')).toMatch(/^Error: this is a group chat: memory is kept only in private chats/);
  });

  it('/forget shows and clears what the bot remembers about the sender; their next prompt no longer has it', async () => {
    expect(await say(GROUP, '/forget', ALICE)).toMatch(/^Use \/forget in a private chat with me/);
    expect(existsSync(aliceFile())).toBe(true);

    const answer = await say(ALICE, '/forget');
    expect(answer).toContain('I forgot everything I had saved about you. It was:');
    expect(answer).toContain(ALICE_FACT);
    expect(existsSync(aliceFile())).toBe(false);
    await say(ALICE, 'alice asks after forgetting');
    expect(promptFor('alice asks after forgetting')).not.toContain(ALICE_FACT);
    expect(promptFor('alice asks after forgetting')).toContain('(nothing yet)');
    expect(await say(ALICE, '/forget')).toMatch(/^I had nothing saved about you/);
    // the owner's memory is untouched by Alice's /forget
    expect(readFileSync(join(daemon.workspace, 'MEMORY.md'), 'utf8')).toContain(OWNER_FACT);
  });
});
