import { readFileSync, statSync } from 'node:fs';
import { withSkills, type SkillCatalogue } from './skills.ts';

const DEFAULT_SYSTEM_PROMPT = 'You are a helpful assistant in a chat. Answer concisely.';
/**
 * AGENT.md and the skills folder are looked at again at most this often, so an edit applies within
 * a second. Not on every turn: their stats cost ~0.1 ms on the path of every reply.
 */
const PROMPT_RECHECK_MS = 1_000;

/** The system prompt: the workspace's AGENT.md, then the skills section. */
export class SystemPrompt {
  private prompt?: { mtimeMs: number; text: string };
  private system?: { checkedAt: number; text: string };

  constructor(
    private readonly file: string,
    private readonly skills?: SkillCatalogue,
  ) {}

  /** Looked at again at most every PROMPT_RECHECK_MS. */
  text(): string {
    const now = Date.now();
    if (this.system === undefined || now - this.system.checkedAt >= PROMPT_RECHECK_MS) {
      this.system = { checkedAt: now, text: withSkills(this.agentPrompt(), this.skills) };
    }
    return this.system.text;
  }

  /**
   * AGENT.md, read again only when it changed. Sync: a stat of a local file takes microseconds, the
   * async one a thread-pool round trip.
   */
  private agentPrompt(): string {
    try {
      const { mtimeMs } = statSync(this.file);
      if (this.prompt?.mtimeMs !== mtimeMs) {
        this.prompt = { mtimeMs, text: readFileSync(this.file, 'utf8').trim() || DEFAULT_SYSTEM_PROMPT };
      }
      return this.prompt.text;
    } catch {
      return DEFAULT_SYSTEM_PROMPT;
    }
  }
}
