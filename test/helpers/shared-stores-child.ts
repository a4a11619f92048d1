/**
 * A real process writing the shared stores of one workspace, for the test of several processes:
 * `<workspace> <name> <rounds>`. It says "ready", waits for a line on stdin, then in each round
 * adds to a counter file under the file lock, counts a message and 15 tokens for one user (usage
 * counters and cost ledger, written every round), issues a pairing code, puts a job and adds a
 * line to MEMORY.md, all as `shared: true` stores; it says "done" at the end.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CostLedger } from '../../src/agent/cost-ledger.ts';
import { UsageLimiter } from '../../src/agent/limits.ts';
import { MemoryFiles } from '../../src/agent/memory.ts';
import { UsageStore } from '../../src/agent/usage-store.ts';
import { PairingStore } from '../../src/channels/pairing-store.ts';
import { configSchema } from '../../src/config/schema.ts';
import { withFileLock } from '../../src/core/file-lock.ts';
import { ScheduleStore } from '../../src/schedules/schedule-store.ts';
import { memoryLogger } from './log.ts';

const [path, name, rounds] = process.argv.slice(2);
const { logger } = memoryLogger();
const shared = { shared: true };
const config = configSchema.parse({ llm: { model: 'm' } });
const usage = new UsageLimiter(() => config, new UsageStore(join(path!, 'usage.json'), logger, shared), logger);
const costs = new CostLedger(join(path!, 'costs.json'), () => ({}), logger, Date.now, shared);
const pairing = new PairingStore(join(path!, 'pairing.json'), Date.now, shared);
const schedules = new ScheduleStore(join(path!, 'schedules.json'), logger, shared);
const memory = new MemoryFiles(path!, shared);
const counter = join(path!, 'counter');
const alice = { channel: 'telegram', chatId: '1', userId: '1', chatType: 'private' as const };
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
for (let i = 0; i < Number(rounds); i++) {
  withFileLock(counter, () => writeFileSync(counter, String(Number(readFileSync(counter, 'utf8')) + 1)));
  usage.admit(alice, false);
  usage.spent(alice, { promptTokens: 10, completionTokens: 5 }, 'm');
  usage.flush();
  costs.answered('m', 0, { promptTokens: 10, completionTokens: 5 });
  costs.flush();
  pairing.codeFor('telegram', `${name}-${i}`);
  schedules.put({ id: `${name}-${i}`, origin: 'agent', instruction: 'x', at: 0, sessionId: 's', target: alice, enabled: true, byOwner: false, since: 0 });
  memory.edit('MEMORY.md', (text) => `${text}- ${name}-${i}\n`);
}
process.stdout.write('done\n');
process.exit(0);
