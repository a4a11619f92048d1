/** An empty allowlist lets everyone in; otherwise only the listed user ids (compared as strings). */
export function isAllowed(userId: string, allowedUserIds: readonly string[]): boolean {
  return allowedUserIds.length === 0 || allowedUserIds.includes(userId);
}

const REFUSAL_INTERVAL_MS = 10 * 60_000;

/** A stranger gets at most one short refusal per interval, however often they write. */
export class RefusalLimiter {
  private readonly last = new Map<string, number>();

  constructor(private readonly intervalMs = REFUSAL_INTERVAL_MS) {}

  shouldRefuse(userKey: string, now = Date.now()): boolean {
    const previous = this.last.get(userKey);
    if (previous !== undefined && now - previous < this.intervalMs) return false;
    this.last.set(userKey, now);
    if (this.last.size > 10_000) this.last.delete(this.last.keys().next().value!);
    return true;
  }
}

export const REFUSAL_TEXT = "Sorry, I only answer people my owner has allowed. Ask them to add your user id to allowed_user_ids.";
export const TEXT_ONLY_TEXT = 'I can only read text for now.';
