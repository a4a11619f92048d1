import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessGate } from '../../../src/channels/access-gate.ts';
import { PAIRING_GROUP_TEXT, REFUSAL_TEXT, type AccessSettings } from '../../../src/channels/access.ts';
import { PairingStore } from '../../../src/channels/pairing-store.ts';
import type { EventSource } from '../../../src/core/events.ts';
import { memoryLogger } from '../../helpers/log.ts';

const OWNER = '1';
const FRIEND = '2';
const STRANGER = '3';
const dm = (userId: string): EventSource => ({ channel: 'telegram', chatId: userId, userId, chatType: 'private' });
const inGroup = (userId: string): EventSource => ({ channel: 'telegram', chatId: '-100', userId, chatType: 'group' });

function gate(over: Partial<AccessSettings> = {}) {
  const settings: AccessSettings = { allowed_user_ids: [], owner_user_ids: [OWNER], group_policy: 'allowlist', ...over };
  const pairing = new PairingStore(join(mkdtempSync(join(tmpdir(), 'mybot-gate-')), 'pairing.json'));
  const { logger, lines } = memoryLogger();
  return { gate: new AccessGate('telegram', () => settings, pairing, logger), pairing, settings, lines };
}

describe('AccessGate', () => {
  it('with an empty allowlist pairs: a stranger in a DM gets a code once per interval, is refused in groups until approved', () => {
    const { gate: g, pairing } = gate();
    expect(g.allows(STRANGER, true)).toBe(false);
    const text = g.turnAway(dm(STRANGER), 'eve');
    const code = /pairing code is ([A-Z2-9]{8})/.exec(text ?? '')?.[1];
    expect(code).toBeDefined();
    expect(g.turnAway(dm(STRANGER))).toBeUndefined(); // spam makes no spam
    expect(pairing.list().pending).toMatchObject([{ code, userId: STRANGER, name: 'eve' }]);
    expect(g.allows(STRANGER, false)).toBe(false);
    expect(gate().gate.turnAway(inGroup(STRANGER))).toBe(PAIRING_GROUP_TEXT);
    pairing.approve(code!, 'cli');
    expect(g.allows(STRANGER, true)).toBe(true);
    expect(g.allows(STRANGER, false)).toBe(true); // groups follow the same list
  });

  it('owners are always in; allowlist admits only the list, not paired users', () => {
    const { gate: g, pairing, settings } = gate({ allowed_user_ids: [FRIEND] });
    pairing.approve(pairing.codeFor('telegram', STRANGER).code, 'cli');
    expect([OWNER, FRIEND, STRANGER].map((u) => g.allows(u, true))).toEqual([true, true, false]);
    expect(g.turnAway(dm(STRANGER))).toBe(REFUSAL_TEXT);
    settings.dm_policy = 'pairing'; // read on every message: paired users count again
    expect(g.allows(STRANGER, true)).toBe(true);
  });

  it('dm_policy open answers everyone in DMs; groups stay on the list unless group_policy is open', () => {
    const { gate: g, settings } = gate({ dm_policy: 'open' });
    expect(g.allows(STRANGER, true)).toBe(true);
    expect(g.allows(STRANGER, false)).toBe(false);
    expect(g.allows(OWNER, false)).toBe(true);
    settings.group_policy = 'open';
    expect(g.allows(STRANGER, false)).toBe(true);
  });

  it('a pairing file it cannot read lets no paired user in, and says so once', () => {
    const { gate: g, pairing, lines } = gate();
    pairing.approve(pairing.codeFor('telegram', FRIEND).code, 'cli');
    writeFileSync(pairing.file, 'not json');
    expect(g.allows(FRIEND, true)).toBe(false);
    expect(g.allows(FRIEND, true)).toBe(false);
    expect(lines.filter((l) => l.msg === 'could not read the pairing file; paired users are refused until it is fixed')).toHaveLength(1);
  });
});
