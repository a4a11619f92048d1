import { readFile } from 'node:fs/promises';
import type { InboundFile } from '../../core/events.ts';
import { ChannelError } from '../../core/errors.ts';
import { DownloadError, type FileLocation } from '../../media/download.ts';
import type { OutgoingFile } from '../channel.ts';

/** Discord's attachment hosts; a REST proxy (channels.discord.api_base) may serve them on its own host. */
const DISCORD_FILE_HOSTS = new Set(['cdn.discordapp.com', 'media.discordapp.net']);
/** What the agent downloads at most (Discord lets users upload more with Nitro). */
const DOWNLOAD_LIMIT = 20 * 1_048_576;
/** https://discord.com/developers/docs/reference#uploading-files: 10 MB, more in boosted servers (level 2: 50, level 3: 100). */
const UPLOAD_LIMITS = [10, 10, 50, 100].map((mb) => mb * 1_048_576);

/** The attachment URL the gateway gave, if it is on Discord's file hosts (https) or on api_base's host. */
export function discordFileLocation(file: InboundFile, apiBase: string): FileLocation {
  if (!file.url) throw new DownloadError('Discord gave no URL for it', false);
  const proxy = new URL(apiBase).origin;
  return {
    url: file.url,
    allows: (url) => (url.protocol === 'https:' && DISCORD_FILE_HOSTS.has(url.hostname)) || url.origin === proxy,
    maxBytes: DOWNLOAD_LIMIT,
  };
}

/** The upload limit of a server by its boost level (premium tier); DMs and unknown channels get the base one. */
export function discordUploadLimit(premiumTier: number | undefined): number {
  return UPLOAD_LIMITS[premiumTier ?? 0] ?? UPLOAD_LIMITS[0]!;
}

/** The file's bytes, refused before any request when over `limit`. */
export async function uploadData(file: OutgoingFile, limit: number): Promise<Buffer> {
  const data = await readFile(file.path).catch((err: unknown) => {
    throw new ChannelError(`cannot send ${file.name}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, false);
  });
  if (data.length > limit) throw new ChannelError(`cannot send ${file.name}: it is larger than the ${Math.round(limit / 1_048_576)} MB this Discord channel takes`, false);
  return data;
}
