/**
 * A real process using the real Journal and LocalBus, for the SIGKILL durability test.
 *   publish <journal> <n>: publishes n inbound events, acks the even ones, says "published", then waits to be killed.
 *   replay <journal>: runs the bus and prints the ids it replays as one JSON line.
 */
import { InboundEvent } from '../../src/core/events.ts';
import { Journal } from '../../src/core/journal.ts';
import { LocalBus } from '../../src/core/local-bus.ts';
import { inbound } from './events.ts';
import { memoryLogger } from './log.ts';

const [mode, path, count] = process.argv.slice(2);
const { logger } = memoryLogger();
const journal = new Journal(path!, { log: logger });
const bus = new LocalBus({ log: logger, journal });

if (mode === 'publish') {
  for (let i = 0; i < Number(count); i++) {
    await bus.publish(inbound(`s${i % 3}`, `message ${i}`, `e${i}`));
    if (i % 2 === 0) await bus.ack(`e${i}`);
  }
  process.stdout.write('published\n');
  setInterval(() => undefined, 1000);
} else {
  const replayed: string[] = [];
  bus.subscribe(InboundEvent, (e) => void replayed.push(e.id));
  await bus.run();
  await new Promise((resolve) => setImmediate(resolve));
  await bus.stop(1000);
  process.stdout.write(`${JSON.stringify(replayed.sort())}\n`);
}
