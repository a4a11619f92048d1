import { describe, expect, it } from 'vitest';
import { refusesImages, withNotices } from '../../../src/agent/media-turn.ts';
import { LlmError } from '../../../src/core/errors.ts';

const refused = (status: number, message: string) => new LlmError(`the LLM answered HTTP ${status}`, false, { cause: Object.assign(new Error(message), { status }) });

describe('a model that takes no images', () => {
  it("is told by the endpoint's answer, as OpenAI, OpenRouter, vLLM and LM Studio word it", () => {
    expect(refusesImages(refused(400, '400 Invalid content type. image_url is only supported by certain models.'))).toBe(true);
    expect(refusesImages(refused(404, '404 No endpoints found that support image input'))).toBe(true);
    expect(refusesImages(refused(400, 'meta-llama/Llama-3-8B is not a multimodal model'))).toBe(true);
    expect(refusesImages(refused(400, 'Model does not support images. Please use a model that does.'))).toBe(true);
    expect(refusesImages(refused(400, "'messages.1.content' must be a string"))).toBe(true);
  });

  it('is not any other refusal', () => {
    expect(refusesImages(refused(400, 'maximum context length exceeded'))).toBe(false);
    expect(refusesImages(refused(401, 'invalid image key'))).toBe(false);
    expect(refusesImages(new LlmError('the LLM answered HTTP 503', true, { cause: Object.assign(new Error('image service down'), { status: 503 }) }))).toBe(false);
    expect(refusesImages(new Error('image'))).toBe(false);
  });

  it('the lines for the user follow the answer', () => {
    expect(withNotices('answer', [])).toBe('answer');
    expect(withNotices('answer', ['(one)', '(two)'])).toBe('answer\n\n(one)\n(two)');
  });
});
