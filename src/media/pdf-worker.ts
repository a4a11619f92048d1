import { parentPort, workerData } from 'node:worker_threads';
import { getDocument, VerbosityLevel } from 'pdfjs-dist/legacy/build/pdf.mjs';

/**
 * Runs in a worker thread (see pdf-text.ts): a PDF's text, page by page, up to `maxChars`. pdf.js
 * parses in the thread that calls it, so a large or hostile PDF stalls only this thread, which
 * the daemon can time out and terminate.
 */
interface Job {
  data: Uint8Array;
  maxChars: number;
}

export interface PdfTextResult {
  text: string;
  pages: number;
  truncated: boolean;
}

async function extract({ data, maxChars }: Job): Promise<PdfTextResult> {
  const doc = await getDocument({ data, isEvalSupported: false, disableFontFace: true, verbosity: VerbosityLevel.ERRORS }).promise;
  try {
    const parts: string[] = [];
    let length = 0;
    for (let number = 1; number <= doc.numPages && length <= maxChars; number++) {
      const page = await doc.getPage(number);
      const content = await page.getTextContent();
      let text = '';
      for (const item of content.items) if ('str' in item) text += item.str + (item.hasEOL ? '\n' : '');
      page.cleanup();
      parts.push(text.trim());
      length += text.length + 2;
    }
    const text = parts.filter(Boolean).join('\n\n');
    return { text: text.slice(0, maxChars), pages: doc.numPages, truncated: text.length > maxChars || parts.length < doc.numPages };
  } finally {
    await doc.destroy();
  }
}

extract(workerData as Job).then(
  (result) => parentPort!.postMessage({ ok: true, result }),
  (err: unknown) => parentPort!.postMessage({ ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }),
);
