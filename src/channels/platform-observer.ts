import type { Platform } from './accounts.ts';

/** Told when a platform answers 429 and when a call to it is tried again (e.g. for /metrics). */
export interface PlatformObserver {
  rateLimited(platform: Platform): void;
  retried(platform: Platform): void;
}

export const IGNORE_PLATFORM: PlatformObserver = { rateLimited: () => undefined, retried: () => undefined };
