import { randomInt } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { MybotError } from '../core/errors.ts';
import { withFileLock, type Sharing } from '../core/file-lock.ts';

/** No 0/O and no 1/I: a code read aloud or copied by hand comes out right. */
export const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
export const CODE_LENGTH = 8;
export const CODE_TTL_MS = 60 * 60_000;
/** Strangers writing faster than codes expire must not grow the file without bound. */
const MAX_PENDING = 1000;

const pendingSchema = z.object({
  code: z.string(),
  channel: z.string(),
  userId: z.string(),
  name: z.string().optional(),
  createdAt: z.number(),
  expiresAt: z.number(),
});
const approvedSchema = z.object({
  channel: z.string(),
  userId: z.string(),
  name: z.string().optional(),
  approvedAt: z.number(),
  /** `cli`, or the owner who approved it in a chat: `telegram:<id>`. */
  by: z.string(),
});
const fileSchema = z.object({
  version: z.literal(1),
  pending: z.array(pendingSchema).default([]),
  approved: z.array(approvedSchema).default([]),
});

export type PendingCode = z.infer<typeof pendingSchema>;
export type PairedUser = z.infer<typeof approvedSchema>;
type PairingData = z.infer<typeof fileSchema>;

/** `abcd-2345 efgh` → `ABCD2345EFGH`: what a person may type for a code. */
export function normalizeCode(input: string): string {
  return input.toUpperCase().replace(/[\s-]/g, '');
}

export function newCode(): string {
  return Array.from({ length: CODE_LENGTH }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
}

/**
 * `.mybot/pairing.json`: pending codes (one per user, an hour each) and the users an owner
 * approved, per channel. The daemon and `npm run pair` both read and write it; every write is
 * atomic, and every read first checks whether the other process replaced the file, so an approval
 * made from the command line applies to the user's next message without a restart.
 * `shared`: processes that write it at the same time (server roles: the gateway makes codes, an
 * agent approves one with /pair; `npm run pair`) take the file lock for each read-modify-write.
 */
export class PairingStore {
  private data: PairingData = { version: 1, pending: [], approved: [] };
  /** inode, mtime and size of the file last read ('' while there is none): a rename changes the inode. */
  private stamp = '';
  private readonly shared: boolean;

  constructor(
    readonly file: string,
    private readonly now: () => number = Date.now,
    { shared = false }: Sharing = {},
  ) {
    this.shared = shared;
  }

  isApproved(channel: string, userId: string): boolean {
    return this.refresh().approved.some((u) => u.channel === channel && u.userId === userId);
  }

  /** The user's code while it is valid, else a new one, saved before it is returned. */
  codeFor(channel: string, userId: string, name?: string): PendingCode & { fresh: boolean } {
    return this.locked(() => this.issue(channel, userId, name));
  }

  private issue(channel: string, userId: string, name?: string): PendingCode & { fresh: boolean } {
    const now = this.now();
    const data = this.refresh();
    const existing = data.pending.find((p) => p.channel === channel && p.userId === userId && p.expiresAt > now);
    if (existing) return { ...existing, fresh: false };
    const live = data.pending.filter((p) => p.expiresAt > now && !(p.channel === channel && p.userId === userId));
    if (live.length >= MAX_PENDING) throw new MybotError(`${this.file} already holds ${MAX_PENDING} pending pairing codes: approve or wait for them to expire (an hour each)`);
    const taken = new Set(live.map((p) => p.code));
    let code = newCode();
    while (taken.has(code)) code = newCode();
    const entry: PendingCode = { code, channel, userId, ...(name ? { name } : {}), createdAt: now, expiresAt: now + CODE_TTL_MS };
    this.save({ ...data, pending: [...live, entry] });
    return { ...entry, fresh: true };
  }

  /** Approves the user behind a valid code; undefined when no such code is pending (unknown, used, or expired). */
  approve(input: string, by: string): PairedUser | undefined {
    return this.locked(() => this.approveCode(input, by));
  }

  private approveCode(input: string, by: string): PairedUser | undefined {
    const code = normalizeCode(input);
    const now = this.now();
    const data = this.refresh();
    const pending = data.pending.find((p) => p.code === code && p.expiresAt > now);
    if (!pending) return undefined;
    const user: PairedUser = { channel: pending.channel, userId: pending.userId, ...(pending.name ? { name: pending.name } : {}), approvedAt: now, by };
    this.save({
      ...data,
      pending: data.pending.filter((p) => p !== pending),
      approved: [...data.approved.filter((u) => !(u.channel === user.channel && u.userId === user.userId)), user],
    });
    return user;
  }

  /** Removes the approval of `user`: `<channel>:<id>` or a bare id (on every channel). Returns what was removed. */
  revoke(user: string): PairedUser[] {
    return this.locked(() => this.revokeUser(user));
  }

  private revokeUser(user: string): PairedUser[] {
    const [channel, userId] = user.includes(':') ? (user.split(':', 2) as [string, string]) : [undefined, user];
    const data = this.refresh();
    const matches = (u: PairedUser) => u.userId === userId && (channel === undefined || u.channel === channel);
    const removed = data.approved.filter(matches);
    if (removed.length > 0) this.save({ ...data, approved: data.approved.filter((u) => !matches(u)) });
    return removed;
  }

  list(): { pending: PendingCode[]; approved: PairedUser[] } {
    const now = this.now();
    const data = this.refresh();
    return { pending: data.pending.filter((p) => p.expiresAt > now), approved: data.approved };
  }

  /** `change` under the file lock when the file is shared, reading the file afresh first. */
  private locked<T>(change: () => T): T {
    if (!this.shared) return change();
    return withFileLock(this.file, () => {
      this.stamp = '\0';
      return change();
    });
  }

  private refresh(): PairingData {
    let stamp = '';
    try {
      const st = statSync(this.file);
      stamp = `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw this.unreadable(err);
    }
    if (stamp === this.stamp) return this.data;
    if (stamp === '') {
      this.data = { version: 1, pending: [], approved: [] };
    } else {
      let parsed: ReturnType<typeof fileSchema.safeParse>;
      try {
        parsed = fileSchema.safeParse(JSON.parse(readFileSync(this.file, 'utf8')));
      } catch (err) {
        throw this.unreadable(err);
      }
      if (!parsed.success) throw this.unreadable(parsed.error.issues[0]?.message);
      this.data = parsed.data;
    }
    this.stamp = stamp;
    return this.data;
  }

  private save(data: PairingData): void {
    const now = this.now();
    const next = { ...data, pending: data.pending.filter((p) => p.expiresAt > now) };
    writeFileAtomic(this.file, `${JSON.stringify(next, null, 2)}\n`);
    const st = statSync(this.file);
    this.data = next;
    this.stamp = `${st.ino}:${st.mtimeMs}:${st.size}`;
  }

  private unreadable(reason: unknown): MybotError {
    const why = reason instanceof Error ? reason.message : String(reason);
    return new MybotError(`${this.file} cannot be read as pairing data (${why}): fix it, or delete it to start over (approved users are then forgotten)`);
  }
}
