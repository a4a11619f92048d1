import { Worker } from 'node:worker_threads';
import type { PdfTextResult } from './pdf-worker.ts';

export type { PdfTextResult };

/** How long one PDF may take to read, and how much memory its thread may use. */
const PDF_TIMEOUT_MS = 30_000;
const PDF_HEAP_MB = 256;
/**
 * The worker is TypeScript, run through tsx as the daemon is. On Node 20 a worker does not take
 * over the loader that `--import tsx` registered in the main thread, so it registers its own.
 */
const WORKER_BOOT = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(new URL('./pdf-worker.ts', import.meta.url).href)}); })`;

/**
 * The text of a PDF, read with Mozilla's pdf.js in a worker thread: a PDF that takes too long or
 * too much memory is stopped there, and the daemon's event loop (replies, polling, heartbeats)
 * never waits for it. Rejects with a short reason for the user when the file cannot be read.
 */
export function pdfText(data: Buffer, maxChars: number, timeoutMs = PDF_TIMEOUT_MS): Promise<PdfTextResult> {
  const bytes = new Uint8Array(data);
  const worker = new Worker(WORKER_BOOT, {
    eval: true,
    workerData: { data: bytes, maxChars },
    transferList: [bytes.buffer],
    resourceLimits: { maxOldGenerationSizeMb: PDF_HEAP_MB },
    stdout: true,
    stderr: true,
  });
  return new Promise<PdfTextResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`reading it took longer than ${timeoutMs / 1000} s`));
      void worker.terminate();
    }, timeoutMs);
    worker.once('message', (message: { ok: true; result: PdfTextResult } | { ok: false; error: string }) => {
      if (message.ok) resolve(message.result);
      else reject(new Error(/password/i.test(message.error) ? 'it is protected by a password' : `it could not be read as a PDF (${message.error.slice(0, 120)})`));
    });
    worker.once('error', (err) => reject(new Error(/ERR_WORKER_OUT_OF_MEMORY/.test(String((err as NodeJS.ErrnoException).code)) ? 'it needs too much memory to read' : `reading it failed (${err.message.slice(0, 120)})`)));
    worker.once('exit', () => {
      clearTimeout(timer);
      reject(new Error('reading it stopped unexpectedly'));
    });
  }).finally(() => void worker.terminate());
}
