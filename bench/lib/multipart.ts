/** A prebuilt `multipart/form-data` request body: built once, sent many times. */
export interface Upload {
  body: Buffer;
  contentType: string;
}

const BOUNDARY = '----photodna-guard-bench-7f3a9c';

/** One file part under `field`, as a browser form would send it. */
export function fileUpload(bytes: Buffer, filename: string, field = 'file'): Upload {
  const head = Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
  return {
    body: Buffer.concat([head, bytes, tail]),
    contentType: `multipart/form-data; boundary=${BOUNDARY}`,
  };
}

/** Several file parts under `field`, in one request. */
export function filesUpload(
  files: ReadonlyArray<{ bytes: Buffer; filename: string }>,
  field = 'file',
): Upload {
  const parts = files.flatMap(({ bytes, filename }) => [
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    ),
    bytes,
    Buffer.from('\r\n'),
  ]);
  return {
    body: Buffer.concat([...parts, Buffer.from(`--${BOUNDARY}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${BOUNDARY}`,
  };
}

/** Text fields only, in one request (what a form posts without files). */
export function fieldsUpload(fields: ReadonlyArray<{ name: string; value: string }>): Upload {
  const parts = fields.flatMap(({ name, value }) => [
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`),
    Buffer.from(value),
    Buffer.from('\r\n'),
  ]);
  return {
    body: Buffer.concat([...parts, Buffer.from(`--${BOUNDARY}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${BOUNDARY}`,
  };
}
