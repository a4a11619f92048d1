import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeOpenAI } from '../fakes/openai.ts';
import { chat, workspaceWith } from '../helpers/chat.ts';

const BODY = 'When asked about the weather: SKILL-BODY-7731, answer in degrees Celsius.';

describe('skills, through npm run chat and the fake LLM', () => {
  let llm: FakeOpenAI;
  const config = () => ({ llm: { api_base: llm.url, model: 'fake-model', api_key: 'sk-e2e-0123456789', max_retries: 0 } });

  beforeAll(async () => {
    llm = await FakeOpenAI.start();
  });
  afterAll(async () => {
    await llm.close();
  });
  beforeEach(() => {
    llm.requests.length = 0;
  });

  it('the prompt lists a skill by name and description; use_skill brings its body into the next request', async () => {
    const workspace = workspaceWith(config());
    mkdirSync(join(workspace, 'skills', 'weather'), { recursive: true });
    writeFileSync(join(workspace, 'skills', 'weather', 'SKILL.md'), `---\nname: weather\ndescription: How to answer questions about the weather.\n---\n\n${BODY}\n`);
    mkdirSync(join(workspace, 'skills', 'broken'), { recursive: true });
    writeFileSync(join(workspace, 'skills', 'broken', 'SKILL.md'), 'no front matter at all');
    llm.enqueue({ toolCalls: [{ id: 'call_skill', name: 'use_skill', arguments: JSON.stringify({ name: 'weather' }) }] }, { content: 'It is 21 degrees Celsius.' });

    const { output } = await chat(workspace, ['what is the weather like?']);

    expect(output).toContain('bot> It is 21 degrees Celsius.');
    expect(llm.requests).toHaveLength(2);
    const [first, second] = llm.requests;
    const system = first!.messages[0];
    expect(system.role).toBe('system');
    expect(system.content).toContain('- weather: How to answer questions about the weather.');
    expect(system.content).not.toContain('SKILL-BODY-7731');
    expect(system.content).not.toContain('broken');
    expect(first!.body.tools.map((t: any) => t.function.name)).toContain('use_skill');
    expect(second!.messages.at(-1)).toMatchObject({ role: 'tool', tool_call_id: 'call_skill', content: expect.stringContaining(BODY) });
    // the malformed one was skipped with a warning naming its file
    const log = readFileSync(join(workspace, 'logs', 'chat.log'), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
    expect(log).toContainEqual(expect.objectContaining({ msg: expect.stringMatching(/^skill skipped/), file: join(workspace, 'skills', 'broken', 'SKILL.md') }));
  });
});
