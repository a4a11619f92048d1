import type { ChaosSession, Platform } from './world.ts';

/** A user message the chaos run sent. */
export interface SentRecord {
  idx: number;
  session: ChaosSession;
  eventId: string;
  at: number;
  /** How many tagged paragraphs its reply has. */
  parts: number;
}

export interface Score {
  sent: Record<Platform, number>;
  /**
   * Discord messages never received that opened their conversation: sent while the daemon was down
   * (or unread in its socket at a kill) in a DM or channel where it had journaled nothing yet. The
   * catch-up reads only conversations the bot served, and Discord lists no DM channels to a bot.
   */
  discordFirstContactMissed: SentRecord[];
  /** Messages whose whole reply arrived. */
  delivered: number;
  deliveredRecords: SentRecord[];
  lost: SentRecord[];
  duplicated: SentRecord[];
  /** Reply chunks that arrived after a chunk of a later message of the same session. */
  outOfOrder: number;
  sessionsOutOfOrder: string[];
  /** For each session out of order: the order messages were sent in, and the order their reply chunks arrived in. */
  orderDetails: string[];
  /** Bot messages without a reply tag: error answers, notices. */
  untagged: string[];
}

const TAGS = /\bm(\d+)-(\d+)\b/g;

/**
 * Counts, per session, what arrived against what was sent. A bot message is identified by the
 * first tag it carries (`m<idx>-<part>`); a message is delivered when every part of its reply
 * arrived, duplicated when a part arrived twice, and out of order when a part arrives after a part
 * of a message sent later in the same session.
 */
export function score(sent: SentRecord[], journaled: ReadonlySet<string>): Score {
  const result: Score = {
    sent: { telegram: 0, discord: 0 },
    discordFirstContactMissed: [],
    delivered: 0,
    deliveredRecords: [],
    lost: [],
    duplicated: [],
    outOfOrder: 0,
    sessionsOutOfOrder: [],
    orderDetails: [],
    untagged: [],
  };
  const bySession = new Map<ChaosSession, SentRecord[]>();
  for (const record of sent) {
    result.sent[record.session.platform]++;
    bySession.set(record.session, [...(bySession.get(record.session) ?? []), record]);
  }
  for (const [session, records] of bySession) {
    const seen = new Map<string, number>();
    const order: Array<{ idx: number; part: number }> = [];
    for (const text of session.botTexts()) {
      const tags = [...text.matchAll(TAGS)].map((m) => ({ idx: Number(m[1]), part: Number(m[2]) }));
      if (tags.length === 0) result.untagged.push(`${session.key}: ${text.slice(0, 120)}`);
      for (const tag of tags) {
        const key = `${tag.idx}-${tag.part}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        if (seen.get(key) === 1) order.push(tag);
      }
    }
    const rank = new Map(records.map((r, i) => [r.idx, i]));
    let highest = -1;
    let late = 0;
    for (const { idx, part } of order) {
      const position = (rank.get(idx) ?? -1) * 10_000 + part;
      if (position < highest) late++;
      highest = Math.max(highest, position);
    }
    result.outOfOrder += late;
    if (late > 0) {
      result.sessionsOutOfOrder.push(session.key);
      result.orderDetails.push(`${session.key}: sent ${records.map((r) => `m${r.idx}`).join(' ')}; replies ${order.map((t) => `m${t.idx}-${t.part}`).join(' ')}`);
    }
    for (const record of records) {
      const counts = Array.from({ length: record.parts }, (_, k) => seen.get(`${record.idx}-${k}`) ?? 0);
      if (counts.some((n) => n > 1)) result.duplicated.push(record);
      if (counts.every((n) => n >= 1)) {
        result.delivered++;
        result.deliveredRecords.push(record);
      }
      else if (counts.some((n) => n >= 1)) result.lost.push(record);
      else if (session.platform === 'discord' && !journaled.has(record.eventId) && !servedBefore(records, record, journaled)) result.discordFirstContactMissed.push(record);
      else result.lost.push(record);
    }
  }
  return result;
}

/** Whether a message before `record` in its conversation was journaled: then the daemon had a catch-up cursor there. */
function servedBefore(records: readonly SentRecord[], record: SentRecord, journaled: ReadonlySet<string>): boolean {
  return records.slice(0, records.indexOf(record)).some((r) => journaled.has(r.eventId));
}

/** Every event id the journal ever held: pending events and the remembered ids of acknowledged ones. */
export function journaledIds(journalText: string): Set<string> {
  const ids = new Set<string>();
  for (const line of journalText.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const record = JSON.parse(line) as { t: string; id?: string; ids?: string[]; e?: { id: string } | Array<{ id: string }> };
      // one event or id a record, or (t in upper case) the batch of one write
      for (const event of [record.e ?? []].flat()) ids.add(event.id);
      for (const id of [record.id ?? [], record.ids ?? []].flat()) ids.add(id);
    } catch {
      // a torn line: its event, if any, was never acknowledged
    }
  }
  return ids;
}

/** Events the journal still holds unacknowledged: work the daemon has not finished. */
export function pendingIds(journalText: string): Set<string> {
  const pending = new Set<string>();
  for (const line of journalText.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const record = JSON.parse(line) as { t: string; id?: string; ids?: string[]; e?: { id: string } | Array<{ id: string }> };
      // one event or acknowledgement a record, or (t in upper case) the batch of one write
      if (record.t === 'e' || record.t === 'E') for (const event of [record.e ?? []].flat()) pending.add(event.id);
      else if ((record.t === 'a' || record.t === 's') && record.id) pending.delete(record.id);
      else if (record.t === 'A' || record.t === 'S') for (const id of record.ids ?? []) pending.delete(id);
    } catch {
      // a torn line
    }
  }
  return pending;
}
