import { SUMMARISER_PROMPT } from '../../src/agent/compaction.ts';
import type { FakeRequest } from '../fakes/openai.ts';

/** A request the agent made to summarise older turns (compaction), not to answer a message. */
export function isSummaryRequest(request: FakeRequest): boolean {
  return request.messages[0]?.content === SUMMARISER_PROMPT;
}

/** The requests that answer messages. */
export function chatRequests(requests: readonly FakeRequest[]): FakeRequest[] {
  return requests.filter((r) => !isSummaryRequest(r));
}
