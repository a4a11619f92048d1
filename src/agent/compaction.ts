import { LlmError } from '../core/errors.ts';
import type { ChatMessage, Llm, ToolSpec } from './llm.ts';
import { toChat, type SessionStore, type SessionWindow } from './sessions.ts';

/** Compaction starts when the estimated request reaches this share of `llm.context_window`. */
export const COMPACT_AT = 0.8;
/** The most recent turns, up to this share of the window, stay verbatim after a compaction. */
const KEEP_SHARE = 0.3;
/** The role, name and separators a chat API adds around each message. */
const TOKENS_PER_MESSAGE = 4;
/** One message's text in the transcript handed to the summariser; a tool's long output adds little to a summary. */
const TRANSCRIPT_CHARS_PER_MESSAGE = 2_000;

const SUMMARY_HEADING = 'Summary of the earlier conversation (older messages were condensed into it):';
export const SUMMARISER_PROMPT = [
  'You condense a chat between a user and an AI assistant into a summary the assistant will read instead of the messages.',
  'Keep what matters later: facts about the user and their preferences, decisions, open tasks and questions, names, numbers, file paths, and what the tools did.',
  "Write in the conversation's language, as short plain sentences or bullets, at most about 300 words. Answer with the summary only.",
].join(' ');

/**
 * Tokens of a request, estimated as characters / 4 plus a few per message: close enough for
 * English and code with OpenAI-style tokenizers (other languages run higher, hence the margin of
 * COMPACT_AT), with no tokenizer to download or keep in step with the model.
 */
export function estimateTokens(messages: readonly ChatMessage[], tools: readonly ToolSpec[] = []): number {
  let chars = tools.length > 0 ? JSON.stringify(tools).length : 0;
  for (const message of messages) chars += charsOf(message);
  return Math.ceil(chars / 4) + TOKENS_PER_MESSAGE * messages.length;
}

/** What an image costs, in characters at 4 a token: OpenAI bills a detailed 1024-pixel image at 765 tokens. */
const CHARS_PER_IMAGE = 3_000;

function charsOf(message: ChatMessage): number {
  const { content } = message;
  let chars = typeof content === 'string' ? content.length : (content ?? []).reduce((n, part) => n + (part.type === 'text' ? part.text.length : CHARS_PER_IMAGE), 0);
  if (message.role === 'assistant') for (const call of message.tool_calls ?? []) chars += call.name.length + call.arguments.length;
  return chars;
}

export function needsCompaction(requestTokens: number, contextWindow: number): boolean {
  return requestTokens >= COMPACT_AT * contextWindow;
}

/**
 * Where the verbatim part of the history starts after a compaction: the earliest user message
 * whose turns, up to the end, fit in `keepTokens`. Always a user message, so a tool call and its
 * results are summarised together or kept together, never split. Everything is summarised when
 * not even the last turn fits. Undefined when there is nothing worth summarising: the history
 * already fits, unless `force` (/compact), which then keeps only the last turn.
 */
export function chooseCut(messages: readonly ChatMessage[], keepTokens: number, force = false): number | undefined {
  if (messages.length === 0) return undefined;
  let cut = messages.length;
  let tokens = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    tokens += estimateTokens([messages[i]!]);
    if (tokens > keepTokens) break;
    if (messages[i]!.role === 'user') cut = i;
  }
  if (cut > 0) return cut;
  if (!force) return undefined;
  const lastTurn = messages.findLastIndex((m) => m.role === 'user');
  return lastTurn > 0 ? lastTurn : messages.length;
}

/** How the summary reaches the model: a system message at the head of the history. */
export function summaryMessage(summary: string): ChatMessage {
  return { role: 'system', content: `${SUMMARY_HEADING}\n${summary}` };
}

export interface CompactionInput {
  llm: Llm;
  sessions: SessionStore;
  sessionId: string;
  window: SessionWindow;
  contextWindow: number;
  signal: AbortSignal;
  /** /compact: summarise even when the history fits. */
  force?: boolean;
}

export interface CompactionResult {
  summarised: number;
  kept: number;
}

/**
 * Summarises the older part of a session's window with the LLM and records the summary in the
 * session (a marker line: the history file keeps every message). Undefined when there was nothing
 * to summarise. Throws what the LLM or the disk threw; the window is then unchanged.
 */
export async function compactSession(input: CompactionInput): Promise<CompactionResult | undefined> {
  const { window } = input;
  const messages = window.messages.map(toChat);
  const cut = chooseCut(messages, KEEP_SHARE * input.contextWindow, input.force);
  if (cut === undefined) return undefined;
  const answer = await input.llm.chat(
    [
      { role: 'system', content: SUMMARISER_PROMPT },
      { role: 'user', content: transcript(window.summary, messages.slice(0, cut), input.contextWindow) },
    ],
    [],
    input.signal,
  );
  const summary = answer.content?.trim();
  if (!summary) throw new LlmError('the LLM returned an empty summary', false);
  await input.sessions.compact(input.sessionId, summary, messages.length - cut);
  return { summarised: cut, kept: messages.length - cut };
}

/** The part to summarise as plain text: the previous summary first, then one line per message. */
function transcript(previous: string | undefined, messages: readonly ChatMessage[], contextWindow: number): string {
  const lines = messages.map((m) => clip(lineOf(m), TRANSCRIPT_CHARS_PER_MESSAGE));
  let text = lines.join('\n');
  // the summariser's request must fit the window too: the newest part matters most
  const budget = Math.floor(contextWindow * 4 * (1 - KEEP_SHARE)) - (previous?.length ?? 0);
  if (text.length > budget) text = `…${text.slice(text.length - Math.max(0, budget))}`;
  return `${previous ? `Summary so far:\n${previous}\n\n` : ''}Conversation to add to the summary:\n${text}`;
}

function lineOf(message: ChatMessage): string {
  switch (message.role) {
    case 'user':
      return `User: ${message.content}`;
    case 'assistant': {
      const calls = (message.tool_calls ?? []).map((c) => `[called ${c.name}(${clip(c.arguments, 300)})]`);
      return `Assistant: ${[message.content ?? '', ...calls].filter(Boolean).join(' ')}`;
    }
    case 'tool':
      return `Tool result: ${message.content}`;
    case 'system':
      return `System: ${message.content}`;
  }
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
