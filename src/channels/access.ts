import type { Config } from '../config/schema.ts';
import type { EventSource } from '../core/events.ts';
import { allEnabledAccounts, settingsOfChannel } from './accounts.ts';

/** The access keys of one platform's config (channels.telegram, channels.discord). */
export type AccessSettings = Pick<Config['channels']['telegram'], 'allowed_user_ids' | 'owner_user_ids' | 'dm_policy' | 'group_policy'>;
export type DmPolicy = NonNullable<AccessSettings['dm_policy']>;

/** An empty allowlist pairs, a non-empty one is the list; `dm_policy` overrides both. */
export function dmPolicyOf(settings: AccessSettings): DmPolicy {
  return settings.dm_policy ?? (settings.allowed_user_ids.length === 0 ? 'pairing' : 'allowlist');
}

/** Owners are listed per bot account; whoever types in the local terminal chat owns the machine anyway. */
export function isOwner(config: Config, source: EventSource): boolean {
  if (source.channel === 'terminal') return true;
  const settings = settingsOfChannel(config, source.channel);
  return source.userId !== undefined && (settings?.owner_user_ids.includes(source.userId) ?? false);
}

/** The one line a daemon logs at start when a platform pairs strangers; undefined when none does. */
export function pairingHint(config: Config): { msg: string; channels: string[] } | undefined {
  const channels = allEnabledAccounts(config)
    .filter((ref) => dmPolicyOf(settingsOfChannel(config, ref.channel)!) === 'pairing')
    .map((ref) => ref.channel);
  if (channels.length === 0) return undefined;
  return {
    channels,
    msg: 'pairing (allowed_user_ids is empty, or dm_policy: pairing): a stranger who writes in a DM gets a code and no answer; approve it with `npm run pair -- approve <code>`, or /pair approve <code> from an owner in a DM; dm_policy: open answers everyone',
  };
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
export const PAIRING_GROUP_TEXT = 'Sorry, I only answer people my owner has approved. Write to me in a direct message to ask for access.';
export const TEXT_ONLY_TEXT = "I can read text, photos, voice notes and files, but not this kind of message.";

export function pairingText(code: string): string {
  return `Hi! I only answer people my owner has approved. Your pairing code is ${code} (valid for an hour): send it to my owner, who can approve it with /pair approve ${code}.`;
}
