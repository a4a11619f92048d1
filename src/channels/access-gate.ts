import type { EventSource } from '../core/events.ts';
import type { Logger } from '../log.ts';
import { dmPolicyOf, PAIRING_GROUP_TEXT, pairingText, REFUSAL_TEXT, RefusalLimiter, type AccessSettings } from './access.ts';
import type { PairingStore } from './pairing-store.ts';

/**
 * Who a platform answers, decided before anything is published: a user turned away here costs no
 * LLM call and leaves nothing in the journal. Settings are read on every message, so an edited
 * allowlist or policy applies at once; approvals come from the pairing store, which notices when
 * `npm run pair` changed its file.
 */
export class AccessGate {
  private readonly refusals = new RefusalLimiter();
  private lastReadError?: string;

  constructor(
    /** The channel name (`telegram`, `telegram.work`): approvals are per bot account. */
    private readonly channel: string,
    private readonly settings: () => AccessSettings,
    private readonly pairing: PairingStore | undefined,
    private readonly log: Logger,
  ) {}

  /** Owners always; then the policy: open, or the allowlist plus (unless the policy is `allowlist`) paired users. */
  allows(userId: string, isPrivate: boolean): boolean {
    const settings = this.settings();
    if (settings.owner_user_ids.includes(userId)) return true;
    const policy = dmPolicyOf(settings);
    if (isPrivate ? policy === 'open' : settings.group_policy === 'open') return true;
    if (settings.allowed_user_ids.includes(userId)) return true;
    return policy !== 'allowlist' && this.isPaired(userId);
  }

  /**
   * What someone who may not write gets, at most once per interval however often they write: in a
   * DM under `pairing` their pairing code (the same one until it expires), otherwise a short
   * refusal. Undefined: say nothing.
   */
  turnAway(source: EventSource, name?: string): string | undefined {
    const userId = source.userId;
    if (userId === undefined || !this.refusals.shouldRefuse(userId)) return undefined;
    const pairs = dmPolicyOf(this.settings()) === 'pairing';
    if (source.chatType !== 'private' || !pairs || !this.pairing) return pairs ? PAIRING_GROUP_TEXT : REFUSAL_TEXT;
    try {
      const pending = this.pairing.codeFor(this.channel, userId, name);
      this.log.info({ channel: this.channel, userId, code: pending.code, fresh: pending.fresh }, 'pairing code sent to an unknown user; approve it with `npm run pair -- approve <code>`');
      return pairingText(pending.code);
    } catch (err) {
      this.log.error({ err, channel: this.channel, userId }, 'could not issue a pairing code');
      return undefined;
    }
  }

  private isPaired(userId: string): boolean {
    if (!this.pairing) return false;
    try {
      const paired = this.pairing.isApproved(this.channel, userId);
      this.lastReadError = undefined;
      return paired;
    } catch (err) {
      // fail closed: a broken file lets nobody in on its strength; said once, not per message
      const reason = (err as Error).message;
      if (reason !== this.lastReadError) this.log.error({ reason }, 'could not read the pairing file; paired users are refused until it is fixed');
      this.lastReadError = reason;
      return false;
    }
  }
}
