import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import type { InboundFile } from '../../core/events.ts';
import { ChannelError } from '../../core/errors.ts';
import { DownloadError, type FileLocation } from '../../media/download.ts';
import type { OutgoingFile } from '../channel.ts';
import { describeError, toChannelError } from './errors.ts';

/** https://core.telegram.org/bots/api#getfile: a bot downloads files up to 20 MB. */
const DOWNLOAD_LIMIT = 20 * 1_048_576;
/** https://core.telegram.org/bots/api#sending-files: up to 50 MB for other files, 10 MB for photos. */
export const TELEGRAM_UPLOAD_LIMIT = 50 * 1_048_576;
const PHOTO_LIMIT = 10 * 1_048_576;
const PHOTO_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);
/** https://core.telegram.org/bots/api#sendphoto: a caption is at most 1024 characters. */
const MAX_CAPTION = 1024;

/** The few Bot API calls files need, as grammY's Api has them (only adapter.ts imports grammy). */
export interface TelegramFileApi {
  getFile(fileId: string): Promise<{ file_path?: string }>;
  sendPhoto(chatId: string, photo: never, options: object): Promise<{ message_id: number }>;
  sendDocument(chatId: string, document: never, options: object): Promise<{ message_id: number }>;
}

/** getFile, then `{api_root}/file/bot<token>/<file_path>`: only api_root's own host is fetched. */
export async function locateTelegramFile(api: TelegramFileApi, apiRoot: string, token: string, file: InboundFile): Promise<FileLocation> {
  let path: string | undefined;
  try {
    path = (await api.getFile(file.fileId)).file_path;
  } catch (err) {
    const refused = toChannelError(err, 'getFile');
    throw new DownloadError(`Telegram getFile failed (${describeError(err)})`, refused.retryable);
  }
  if (!path) throw new DownloadError('Telegram gave no file path for it', false);
  const root = new URL(apiRoot.replace(/\/+$/, ''));
  return {
    url: `${root.href.replace(/\/+$/, '')}/file/bot${token}/${path.split('/').map(encodeURIComponent).join('/')}`,
    allows: (url) => url.origin === root.origin,
    maxBytes: DOWNLOAD_LIMIT,
  };
}

/**
 * An image up to 10 MB goes as a photo (Telegram shows it, recompressed), anything else as a
 * document, byte for byte. `upload` makes grammY's InputFile from the path, read afresh on each try.
 */
export async function sendTelegramFile(api: TelegramFileApi, file: OutgoingFile, upload: (path: string, name: string) => never, replyOptions: object): Promise<string> {
  const { size } = await stat(file.path).catch((err: unknown) => {
    throw new ChannelError(`cannot send ${file.name}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, false);
  });
  if (size > TELEGRAM_UPLOAD_LIMIT) throw new ChannelError(`cannot send ${file.name}: it is larger than Telegram's 50 MB for bots`, false);
  const photo = PHOTO_EXTENSIONS.has(extname(file.name).toLowerCase()) && size <= PHOTO_LIMIT;
  const options = { ...replyOptions, ...(file.caption ? { caption: file.caption.slice(0, MAX_CAPTION) } : {}) };
  const method = photo ? 'sendPhoto' : 'sendDocument';
  try {
    const sent = photo ? await api.sendPhoto(file.target.chatId, upload(file.path, file.name), options) : await api.sendDocument(file.target.chatId, upload(file.path, file.name), options);
    return String(sent.message_id);
  } catch (err) {
    throw toChannelError(err, method);
  }
}
