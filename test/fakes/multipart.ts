/** One part of a multipart/form-data body: a field (`filename` undefined) or a file. */
export interface FormPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

/**
 * A multipart/form-data body as a lenient server reads it (RFC 7578). grammY writes headers as
 * `content-disposition:form-data;name="photo";filename=chart.png` (no spaces, the file name
 * unquoted), which Telegram takes but undici's strict FormData parser refuses.
 */
export function parseMultipart(body: Buffer, contentType: string): FormPart[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!boundary) throw new Error('multipart body without a boundary');
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]!.trim()}`);
  const parts: FormPart[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) throw new Error('multipart body without its closing delimiter');
    // each part: CRLF, headers, CRLF CRLF, data, CRLF, then the next delimiter
    const part = body.subarray(start + 2, next - 2);
    const split = part.indexOf('\r\n\r\n');
    if (split < 0) throw new Error('multipart part without a blank line after its headers');
    const headers = part.subarray(0, split).toString('utf8').split('\r\n');
    const header = (wanted: string) => headers.find((h) => h.toLowerCase().startsWith(`${wanted}:`))?.slice(wanted.length + 1).trim();
    const disposition = header('content-disposition') ?? '';
    const param = (key: string) => new RegExp(`;\\s*${key}=(?:"([^"]*)"|([^;]*))`, 'i').exec(disposition)?.slice(1).find((v) => v !== undefined)?.trim();
    const name = param('name');
    if (name === undefined) throw new Error('multipart part without a name');
    const filename = param('filename');
    const type = header('content-type');
    parts.push({ name, data: Buffer.from(part.subarray(split + 4)), ...(filename !== undefined ? { filename } : {}), ...(type ? { contentType: type } : {}) });
    at = next;
  }
  return parts;
}
