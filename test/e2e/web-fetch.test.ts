import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeOpenAI } from '../fakes/openai.ts';
import { chat, workspaceWith } from '../helpers/chat.ts';

describe('web_fetch, through npm run chat and the fake LLM', () => {
  let llm: FakeOpenAI;
  let site: Server;
  let pageUrl: string;
  const config = (web: Record<string, unknown>) => ({ llm: { api_base: llm.url, model: 'fake-model', api_key: 'sk-e2e-0123456789', max_retries: 0 }, tools: { web } });
  const toolNames = (i: number): string[] => llm.requests[i]!.body.tools.map((t: any) => t.function.name);
  const fetchThen = (answer: string) =>
    llm.enqueue({ toolCalls: [{ id: 'call_web', name: 'web_fetch', arguments: JSON.stringify({ url: pageUrl }) }] }, { content: answer });

  beforeAll(async () => {
    llm = await FakeOpenAI.start();
    site = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<html><head><title>Loopback page</title></head><body><h2>Opening hours</h2><p>Open 9 to 5, PAGE-TEXT-4417.</p><script>alert(1)</script></body></html>');
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    pageUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/hours`;
  });
  afterAll(async () => {
    await llm.close();
    site.closeAllConnections();
    await new Promise((resolve) => site.close(resolve));
  });
  beforeEach(() => {
    llm.requests.length = 0;
  });

  it('is not offered to the model unless tools.web.enabled', async () => {
    await chat(workspaceWith(config({})), ['hello']);
    expect(toolNames(0)).not.toContain('web_fetch');
    expect(toolNames(0)).toContain('read_file');
  });

  it('refuses a page on a loopback server while allow_private is false', async () => {
    fetchThen('I could not open it.');
    const { output } = await chat(workspaceWith(config({ enabled: true })), ['what are the opening hours?']);
    expect(output).toContain('bot> I could not open it.');
    expect(toolNames(0)).toContain('web_fetch');
    const result = llm.requests[1]!.messages.at(-1);
    expect(result).toMatchObject({ role: 'tool', tool_call_id: 'call_web', content: expect.stringMatching(/^Error: refused: 127\.0\.0\.1 is a loopback, private or link-local address/) });
    expect(result.content).not.toContain('PAGE-TEXT-4417');
  });

  it('fetches the page and hands its readable text to the model when allow_private is true', async () => {
    fetchThen('Open 9 to 5.');
    const { output } = await chat(workspaceWith(config({ enabled: true, allow_private: true })), ['what are the opening hours?']);
    expect(output).toContain('bot> Open 9 to 5.');
    const result = llm.requests[1]!.messages.at(-1);
    expect(result).toMatchObject({ role: 'tool', tool_call_id: 'call_web' });
    expect(result.content).toBe(`URL: ${pageUrl}\nTitle: Loopback page\n\nOPENING HOURS\n\nOpen 9 to 5, PAGE-TEXT-4417.`);
  });
});
