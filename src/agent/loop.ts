import { repairHistory } from './history.ts';
import type { ChatMessage, ImagePart, Llm, OnText } from './llm.ts';
import type { ToolRegistry } from './tools/registry.ts';

export interface TurnInput {
  llm: Llm;
  tools: ToolRegistry;
  system: string;
  history: ChatMessage[];
  user: string;
  maxRounds: number;
  signal: AbortSignal;
  /** Sees each round's answer grow while the model writes it (a round that ends in tool calls is superseded). */
  onText?: OnText;
  /** Images the user sent, shown to the model with `user` in this request only. */
  images?: ImagePart[];
  /** Called before the first tool of the turn runs: from then on the turn has effects outside the conversation. */
  beforeTools?: () => void;
}

/** Ends an answer whose stream broke off: what arrived is kept, and the user knows it is not all. */
export const CUT_OFF_NOTE = '\n\n(…my answer was cut off; please ask again.)';

export interface TurnResult {
  /** What the turn adds after the user's message: tool calls, their results, the final answer. */
  added: ChatMessage[];
  reply: string;
  tokens: number;
  /** As the API reported it, summed over the turn's calls: what limits charge. */
  usage: { promptTokens: number; completionTokens: number };
  /** The model that gave the last answer, when the LLM says (a fallback may have answered). */
  model?: string;
}

/** Chats with the model, running the tools it calls, until it answers in text or the rounds run out. */
export async function runTurn(input: TurnInput): Promise<TurnResult> {
  const { llm, tools, maxRounds, signal } = input;
  const specs = tools.specs();
  const user: ChatMessage = { role: 'user', content: input.images?.length ? [{ type: 'text', text: input.user }, ...input.images] : input.user };
  const messages: ChatMessage[] = [{ role: 'system', content: input.system }, ...repairHistory(input.history), user];
  const added: ChatMessage[] = [];
  const usage = { promptTokens: 0, completionTokens: 0 };
  let model: string | undefined;
  for (let round = 0; round < maxRounds; round++) {
    const answer = await llm.chat(messages, specs, signal, input.onText);
    // cancelled as the answer came in: its tool calls must not run
    signal.throwIfAborted();
    model = answer.model ?? model;
    usage.promptTokens += answer.usage?.promptTokens ?? 0;
    usage.completionTokens += answer.usage?.completionTokens ?? 0;
    // the history keeps what the user saw, note included
    const text = answer.interrupted ? `${answer.content ?? ''}${CUT_OFF_NOTE}` : answer.content;
    const assistant: ChatMessage = answer.toolCalls.length > 0
      ? { role: 'assistant', content: answer.content, tool_calls: answer.toolCalls }
      : { role: 'assistant', content: text ?? '' };
    messages.push(assistant);
    added.push(assistant);
    if (answer.toolCalls.length === 0) {
      const reply = text?.trim() ? text : '(the model returned an empty answer)';
      return { added, reply, tokens: usage.promptTokens + usage.completionTokens, usage, model };
    }
    input.beforeTools?.();
    for (const call of answer.toolCalls) {
      const result: ChatMessage = { role: 'tool', tool_call_id: call.id, content: await tools.run(call, signal) };
      messages.push(result);
      added.push(result);
    }
  }
  const reply = `I stopped after ${maxRounds} rounds of tool use without reaching an answer. Ask me to continue, or narrow the task.`;
  added.push({ role: 'assistant', content: reply });
  return { added, reply, tokens: usage.promptTokens + usage.completionTokens, usage, model };
}
