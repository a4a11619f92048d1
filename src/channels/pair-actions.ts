import type { PairedUser, PairingStore, PendingCode } from './pairing-store.ts';

export interface PairResult {
  ok: boolean;
  text: string;
}

/**
 * `approve <code>`, `list` (the default) and `revoke <user id>`: what `npm run pair -- …` and an
 * owner's `/pair …` do. `prefix` is how the caller spells the command in its help text.
 */
export function runPairAction(store: PairingStore, args: readonly string[], by: string, prefix: string, now = Date.now()): PairResult {
  const [action = 'list', arg, ...extra] = args;
  const usage = `usage: ${prefix} approve <code> | ${prefix} list | ${prefix} revoke <user id>`;
  if (extra.length > 0) return { ok: false, text: usage };
  switch (action.toLowerCase()) {
    case 'list':
      return arg === undefined ? { ok: true, text: listing(store, now) } : { ok: false, text: usage };
    case 'approve': {
      if (!arg) return { ok: false, text: usage };
      const user = store.approve(arg, by);
      if (!user) return { ok: false, text: `No pending code ${arg}: codes are valid for an hour and used once. Ask the user to write to the bot again for a new one.` };
      return { ok: true, text: `Approved ${who(user)}: their next message will be answered.` };
    }
    case 'revoke': {
      if (!arg) return { ok: false, text: usage };
      const removed = store.revoke(arg);
      if (removed.length === 0) return { ok: false, text: `No approved user ${arg}. (Users in allowed_user_ids are removed from the config instead.)` };
      return { ok: true, text: `Revoked ${removed.map(who).join(', ')}: not answered any more.` };
    }
    default:
      return { ok: false, text: usage };
  }
}

function listing(store: PairingStore, now: number): string {
  const { pending, approved } = store.list();
  const lines = [approved.length > 0 ? 'Approved users:' : 'No approved users.'];
  for (const user of approved) lines.push(`  ${who(user)}, approved ${new Date(user.approvedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC by ${user.by}`);
  lines.push(pending.length > 0 ? 'Pending codes:' : 'No pending codes.');
  for (const code of pending) lines.push(`  ${code.code}: ${who(code)}, expires in ${Math.max(1, Math.ceil((code.expiresAt - now) / 60_000))} min`);
  return lines.join('\n');
}

function who(user: PairedUser | PendingCode): string {
  return `${user.channel} user ${user.userId}${user.name ? ` (${user.name})` : ''}`;
}
