import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPairAction } from '../../../src/channels/pair-actions.ts';
import { CODE_TTL_MS, PairingStore } from '../../../src/channels/pairing-store.ts';

const CODE = /^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{8}$/;

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-pairing-'));
  const file = join(dir, 'pairing.json');
  let now = Date.UTC(2030, 0, 1, 12);
  const clock = { advance: (ms: number) => (now += ms), now: () => now };
  return { dir, file, clock, store: new PairingStore(file, () => now) };
}

describe('PairingStore', () => {
  it('gives a user one 8-character code without 0, O, 1 or I, the same one until it expires an hour later', () => {
    const { store, clock } = setup();
    const first = store.codeFor('telegram', '42', 'alice');
    expect(first.code).toMatch(CODE);
    expect(first).toMatchObject({ fresh: true, expiresAt: clock.now() + CODE_TTL_MS });
    clock.advance(CODE_TTL_MS - 1);
    expect(store.codeFor('telegram', '42')).toMatchObject({ code: first.code, fresh: false });
    expect(store.codeFor('discord', '42').code).not.toBe(first.code); // another platform, another user
    clock.advance(1);
    const second = store.codeFor('telegram', '42');
    expect(second.fresh).toBe(true);
    expect(second.code).not.toBe(first.code);
  });

  it('approves a valid code once, typed in any case and with spaces or dashes; an expired code approves nobody', () => {
    const { store, clock } = setup();
    const { code } = store.codeFor('telegram', '42', 'alice');
    const typed = `${code.slice(0, 4).toLowerCase()}-${code.slice(4)} `;
    expect(store.approve(typed, 'cli')).toMatchObject({ channel: 'telegram', userId: '42', name: 'alice', by: 'cli' });
    expect(store.isApproved('telegram', '42')).toBe(true);
    expect(store.isApproved('discord', '42')).toBe(false);
    expect(store.approve(code, 'cli')).toBeUndefined();
    const late = store.codeFor('telegram', '43');
    clock.advance(CODE_TTL_MS);
    expect(store.approve(late.code, 'cli')).toBeUndefined();
    expect(store.isApproved('telegram', '43')).toBe(false);
  });

  it('survives a restart, and sees what another process (npm run pair) wrote without one', () => {
    const { store, file, clock, dir } = setup();
    const { code } = store.codeFor('telegram', '42');
    const cli = new PairingStore(file, clock.now);
    expect(cli.approve(code, 'cli')).toBeDefined();
    expect(store.isApproved('telegram', '42')).toBe(true);
    expect(new PairingStore(file, clock.now).isApproved('telegram', '42')).toBe(true);
    expect(cli.revoke('telegram:42')).toHaveLength(1);
    expect(store.isApproved('telegram', '42')).toBe(false);
    expect((statSync(file).mode & 0o777).toString(8)).toBe('600');
    expect(readdirSync(dir)).toEqual(['pairing.json']); // no temp file left behind
  });

  it('revokes by bare id on every platform, or by <channel>:<id> on one', () => {
    const { store } = setup();
    for (const channel of ['telegram', 'discord']) store.approve(store.codeFor(channel, '7').code, 'cli');
    expect(store.revoke('discord:7').map((u) => u.channel)).toEqual(['discord']);
    expect(store.isApproved('telegram', '7')).toBe(true);
    store.approve(store.codeFor('discord', '7').code, 'cli');
    expect(store.revoke('7')).toHaveLength(2);
    expect(store.revoke('7')).toEqual([]);
  });

  it('names the file and the fix when it is not pairing data', () => {
    const { store, file } = setup();
    writeFileSync(file, '{"version": 1, "approved": [{"channel": 1}]');
    expect(() => store.isApproved('telegram', '1')).toThrow(/pairing\.json cannot be read as pairing data .*delete it to start over/);
    writeFileSync(file, '{"version": 2}');
    expect(() => store.list()).toThrow(/pairing\.json cannot be read/);
  });
});

describe('PairingStore shared by several processes', () => {
  it('the gateway issues codes while an agent process approves one: no write undoes another, no lock is left', () => {
    const { file, clock, dir } = setup();
    const gateway = new PairingStore(file, clock.now, { shared: true });
    const agent = new PairingStore(file, clock.now, { shared: true });
    const first = gateway.codeFor('telegram', '1');
    expect(agent.approve(first.code, 'telegram:9')).toMatchObject({ userId: '1' });
    const second = gateway.codeFor('telegram', '2');
    expect(gateway.isApproved('telegram', '1')).toBe(true);
    expect(agent.list()).toMatchObject({ pending: [{ code: second.code, userId: '2' }], approved: [{ userId: '1', by: 'telegram:9' }] });
    expect(gateway.revoke('1')).toHaveLength(1);
    expect(agent.isApproved('telegram', '1')).toBe(false);
    expect(readdirSync(dir)).toEqual(['pairing.json']);
  });
});

describe('runPairAction (npm run pair, /pair)', () => {
  it('approves, lists and revokes, and says what went wrong otherwise', () => {
    const { store, clock } = setup();
    const { code } = store.codeFor('telegram', '42', 'alice');
    expect(runPairAction(store, [], 'cli', 'npm run pair --', clock.now())).toEqual({ ok: true, text: `No approved users.\nPending codes:\n  ${code}: telegram user 42 (alice), expires in 60 min` });
    expect(runPairAction(store, ['approve', 'ZZZZZZZZ'], 'cli', '/pair')).toMatchObject({ ok: false, text: expect.stringMatching(/^No pending code ZZZZZZZZ: codes are valid for an hour/) });
    expect(runPairAction(store, ['approve', code], 'telegram:1', '/pair')).toEqual({ ok: true, text: 'Approved telegram user 42 (alice): their next message will be answered.' });
    expect(runPairAction(store, ['list'], 'cli', '/pair').text).toMatch(/^Approved users:\n {2}telegram user 42 \(alice\), approved 2030-01-01 12:00 UTC by telegram:1\nNo pending codes\.$/);
    expect(runPairAction(store, ['revoke', '42'], 'cli', '/pair')).toEqual({ ok: true, text: 'Revoked telegram user 42 (alice): not answered any more.' });
    expect(runPairAction(store, ['revoke', '42'], 'cli', '/pair').ok).toBe(false);
    expect(runPairAction(store, ['frobnicate'], 'cli', 'npm run pair --')).toEqual({ ok: false, text: 'usage: npm run pair -- approve <code> | npm run pair -- list | npm run pair -- revoke <user id>' });
    expect(runPairAction(store, ['approve'], 'cli', '/pair').ok).toBe(false);
  });
});
