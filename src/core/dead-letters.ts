import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { storageError } from './errors.ts';
import type { AnyEvent } from './events.ts';
import type { Logger } from '../log.ts';

/** One line of `.mybot/dead-letters.jsonl`. */
export interface DeadLetter {
  /** ISO time it was given up on. */
  at: string;
  /** Why: the platform's last refusal. */
  reason: string;
  event: AnyEvent;
}

/**
 * Events given up on for good (a reply every platform form was refused), one JSON line each, so
 * the owner can read what never reached the user and why. Rare by nature: appended synchronously.
 */
export class DeadLetters {
  private count: number;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.count = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).length : 0;
  }

  /** How many the file holds. */
  get size(): number {
    return this.count;
  }

  /** Throws a StorageError when the disk refuses the line. */
  add(event: AnyEvent, reason: string, now = new Date()): void {
    const letter: DeadLetter = { at: now.toISOString(), reason, event };
    try {
      appendFileSync(this.path, `${JSON.stringify(letter)}\n`, { mode: 0o600 });
    } catch (error) {
      throw storageError(error, 'the dead letters', this.path);
    }
    this.count++;
  }
}

/**
 * `EventBus.deadLetter` of every bus: kept in the file (if the bus has one), then acknowledged even
 * when the file refuses it: kept, it would be refused again at every start.
 */
export async function giveUp(deadLetters: DeadLetters | undefined, event: AnyEvent, reason: string, ack: (eventId: string) => Promise<void>, log: Logger): Promise<void> {
  try {
    deadLetters?.add(event, reason);
  } catch (err) {
    log.error({ err, sessionId: event.sessionId, eventId: event.id }, 'could not write a dead letter');
  }
  await ack(event.id);
}
