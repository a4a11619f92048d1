import { isStorageTrouble, LlmError } from '../core/errors.ts';

/** The short message a user gets instead of an answer: what went wrong, in their terms, never a stack trace. */
export function failureReply(error: unknown): string {
  if (error instanceof LlmError) return llmFailureReply(error);
  if (isStorageTrouble(error)) {
    return "Sorry, I couldn't save that: the disk I keep our conversations on is full or read-only. My owner needs to free space or fix the disk.";
  }
  return 'Sorry, something went wrong on my side while answering. Please try again.';
}

function llmFailureReply(error: LlmError): string {
  if (error.transient) return "Sorry, I couldn't reach my language model just now. Please try again in a minute.";
  switch (error.status) {
    case 401:
    case 403:
      return "Sorry, my language model turned me away: it did not accept the bot's API key. The bot's owner needs to fix its settings.";
    case 413:
      return 'Sorry, that was too much for my language model at once. Send something shorter, or /compact or /clear our conversation.';
    default:
      return `Sorry, my language model refused the request (${error.message.replace(/^the LLM /, '')}). The bot's owner may need to fix its settings.`;
  }
}

/** A refusal only the owner can fix, as one log line naming the setting; undefined for any other failure. */
export function ownerFix(error: unknown): string | undefined {
  if (!(error instanceof LlmError) || (error.status !== 401 && error.status !== 403)) return undefined;
  return `the LLM endpoint refused the API key (HTTP ${error.status}): set llm.api_key in config.user.yaml, or OPENAI_API_KEY, to a key that llm.api_base accepts`;
}
