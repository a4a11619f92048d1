import { describe, expect, it } from 'vitest';
import { daemonOnAllFakes } from '../helpers/all-fakes.ts';
import { waitFor } from '../helpers/wait.ts';

const FIRST_TRY = 'The first try at an answer, written slowly, word after word, until the crash cuts it short.';
const FINAL = 'The answer written after the restart.';

/**
 * A SIGKILL while a reply streams: the draft message is up and being edited. After the restart the
 * turn is answered again (it was never recorded), and the chat must show one message with the
 * final text: the journaled draft message is edited, not left beside a second one.
 */
describe('a crash while a reply streams shows one message, not two', () => {
  const world = daemonOnAllFakes();

  it('Telegram: after the restart the chat holds exactly one message, with the final text', async () => {
    const chatId = 9301;
    world.llm.enqueue({ content: FIRST_TRY, pieces: 12, pieceDelayMs: 400 }, { content: FINAL });
    const asked = world.telegram.userSays({ chatId, text: 'write slowly' });
    // up and edited at least once: the reply is streaming
    await waitFor(() => world.telegram.edits.some((e) => e.chatId === chatId), 15_000, 'the draft message to be edited');
    expect(world.telegram.botMessages(chatId)).toHaveLength(1);
    await world.restart('SIGKILL');
    await world.daemon.waitForLog('reply delivered', (l) => l.eventId === `telegram:${chatId}:${asked.message_id}:reply`, 15_000);
    expect(world.telegram.botMessages(chatId).map((m) => m.text)).toEqual([FINAL]);
    expect(world.telegram.requests.filter((r) => r.method === 'sendMessage' && Number(r.params.chat_id) === chatId && r.status === 200)).toHaveLength(1);
  });

  it("Discord: after the restart the channel holds exactly one message; the replayed turn's drafts edit it too", async () => {
    const dm = world.discord.dmChannelFor('666666666666666601', 'fay');
    world.llm.enqueue({ content: FIRST_TRY, pieces: 12, pieceDelayMs: 400 }, { content: FINAL, pieces: 6, pieceDelayMs: 400 });
    const asked = world.discord.userSays({ channelId: dm.id, content: 'write slowly' });
    const edits = () => world.discord.requests.filter((r) => r.method === 'PATCH' && r.path.startsWith(`/channels/${dm.id}/messages/`) && r.status === 200);
    await waitFor(() => edits().length > 0, 15_000, 'the draft message to be edited');
    expect(world.discord.sentMessages(dm.id)).toHaveLength(1);
    const editsBefore = edits().length;
    await world.restart('SIGKILL');
    await world.daemon.waitForLog('reply delivered', (l) => l.eventId === `discord:${dm.id}:${asked.id}:reply`, 15_000);
    expect(world.discord.sentMessages(dm.id).map((m) => m.content)).toEqual([FINAL]);
    // the new turn's drafts went into the old message while the model wrote
    expect(edits().length - editsBefore).toBeGreaterThanOrEqual(2);
    expect(world.discord.requests.filter((r) => r.method === 'POST' && r.path === `/channels/${dm.id}/messages` && r.status === 200)).toHaveLength(1);
  });
});
