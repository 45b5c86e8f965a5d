import { describe, expect, it } from 'vitest';
import {
  findFieldImages,
  findFieldImagesYielding,
  handOverFieldImages,
  imagesIn,
  MANGLED,
  valueBudget,
} from '../../../src/core/field-images.js';
import { gif, jpg, png } from '../../fixtures/images.js';

describe('findFieldImages', () => {
  it('finds a data: URL image among text fields, nested as multer builds them', () => {
    const image = png(200, 200, 3);
    const url = `data:image/png;base64,${image.toString('base64')}`;
    const found = findFieldImages({ title: 'x', post: { photos: ['y', url] } });
    expect(found.map((f) => [f.path, f.bytes?.equals(image)])).toEqual([['post[photos][1]', true]]);
  });

  it("a Buffer on the body (Fastify's 'keyValues' files) is a file, not walked byte by byte: a text image after it is still found", () => {
    const image = png(200, 200, 4);
    const url = `data:image/png;base64,${image.toString('base64')}`;
    // More bytes than the walk's budget of values: walked index by index, they used it up.
    const file = Buffer.alloc(20_000, 0x41);
    const found = findFieldImages({ upload: file, later: url });
    expect(found.map((f) => f.path)).toEqual(['later']);
    expect(findFieldImages({ upload: png(200, 200, 5) })).toEqual([]);
  });

  it('a body of more than 10,000 values is LIMIT_EXCEEDED, not looked through in part', () => {
    const body = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`n${i}`, 'x']));
    expect(() => findFieldImages(body)).toThrow(
      expect.objectContaining({ code: 'LIMIT_EXCEEDED' }),
    );
    const within = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`n${i}`, 'x']));
    expect(findFieldImages(within)).toEqual([]);
  });

  it("what multer's own limits allow is never past the budget: holes of `a[100]` and numbers cost nothing", () => {
    const limits = { maxFields: 100, maxFieldDepth: 4 };
    const body: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) {
      const sparse: unknown[] = [];
      sparse[100] = 'x';
      body[`f${i}`] = sparse;
    }
    body.numbers = Array.from({ length: 20_000 }, (_, i) => i);
    expect(findFieldImages(body, valueBudget(limits))).toEqual([]);
    expect(valueBudget({ maxFields: 50_000, maxFieldDepth: 4 })).toBeGreaterThanOrEqual(50_000 * 5);
  });
});

describe('findFieldImagesYielding', () => {
  it('gives the event loop back between long values, and finds what findFieldImages finds', async () => {
    const image = png(200, 200, 50);
    const long = (i: number) =>
      `${'Qk '.repeat(2000)} ![x](data:image/png;base64,${i === 3 ? image.toString('base64') : ''})`;
    const body = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`f${i}`, long(i)]));
    let turns = 0;
    const tick = () => {
      turns++;
      if (turns < 100) setImmediate(tick);
    };
    setImmediate(tick);
    const searching = findFieldImagesYielding(body, 10_000, undefined, 0); // give back after each long value
    expect(searching).toBeInstanceOf(Promise);
    const found = await searching;
    expect(turns).toBeGreaterThanOrEqual(5); // one turn of the loop between each two long values
    expect(found.map((f) => [f.path, f.bytes?.equals(image)])).toEqual([['f3', true]]);
    expect(findFieldImages(body).map((f) => f.path)).toEqual(['f3']);
    // Short text is done at once, without a promise.
    expect(findFieldImagesYielding({ a: 'b' }, 10_000, undefined, 0)).toEqual([]);
  });
});

describe('imagesIn', () => {
  const image = png(200, 200, 31);

  it('ordinary text carries no image, whatever its first letter', () => {
    for (const text of [
      'Bob',
      'Great photo',
      'Iris',
      'Munich',
      'GIF is a format',
      '/9j/ is a path',
      'Hello, world',
      'name,email,phone\nAda,ada@example.com,+44 20 7946 0000',
      '{"caption":"sunset, 2024","tags":["beach","sea"]}',
      'https://example.com/a?b=c,d&e=base64,xyz',
      'Привет, мир! Как дела?',
      '你好，世界。这是一个测试句子，用来检查。',
      '🙂🙂 emoji, and more 🙂',
      Buffer.from('a plain sentence, encoded as base64 for transport').toString('base64'),
      // Hex a form sends: colours, a UUID, a short commit: no image is this short.
      'FFD8FF',
      'ffd8ffcc',
      'ffd8ff12-3456-4abc-9def-0123456789ab',
      'ffd8ff1',
      '49492a00',
      'GIF89a',
      // Prose that names a signature, and data: URLs of no image.
      'PNG files in base64 start with iVBORw0KGgo so you can detect them easily enough',
      'a JPEG in base64 starts "/9j/", a GIF "R0lGODlh", a BMP "Qk"',
      'data:text/plain,hello, and data:,x and data:text/plain;base64,SGVsbG8gd29ybGQ=',
      'see data: below, data:',
      // Too small to be a picture: a 1×1 placeholder GIF in pasted HTML, headers in code samples.
      '<p>Hi</p><img class="lazy" src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" data-src="/a.jpg">, bye',
      'The string starts with iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB so it is a PNG, right?',
      '```js\nconst header = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/";\n```',
      'Header bytes SUkqAAgAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAA are little-endian TIFF',
      'A 1x1 gif: R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw',
      // A signature named in a long post: Node's decoding reads on into words, no image's header.
      `A JPEG in base64 starts /9j/ and more. ${'Then comes the rest of a long post. '.repeat(20)}`,
      `PNGs start with iVBORw0KGgo in base64. ${'Then comes the rest of a long post. '.repeat(20)}`,
    ]) {
      expect(imagesIn(text)).toEqual([]);
    }
  });

  it('finds the image in each decoding a handler could reverse', () => {
    const utf16le = image.toString('utf16le');
    const utf16be = Buffer.from(image).swap16().toString('utf16le');
    const encoded = ['latin1', 'base64', 'base64url', 'hex'] as const;
    for (const value of [...encoded.map((e) => image.toString(e)), utf16le, utf16be]) {
      const found = imagesIn(value);
      expect(found).toHaveLength(1);
      expect((found[0] as Buffer).equals(image)).toBe(true);
    }
  });

  it('a GIF that is valid UTF-8 is checked as the UTF-8 bytes too, not only as latin1', () => {
    // "GIF89a" then bytes that decode as UTF-8 to characters under U+0100: read as latin1 they
    // are other bytes, so both readings are checked.
    const pairs = Array.from({ length: 20 }, () => [0xc3, 0xa9]).flat();
    const gif = Buffer.concat([Buffer.from('GIF89a'), Buffer.from([...pairs, 0xc2, 0xa0, 0x3b])]);
    const value = gif.toString('utf8');
    const found = imagesIn(value) as Buffer[];
    expect(found.some((bytes) => bytes.equals(gif))).toBe(true);
    expect(found.some((bytes) => bytes.equals(Buffer.from(value, 'latin1')))).toBe(true);
  });

  it('finds every image written among other text, wherever it sits, each once', () => {
    // Base64 ending in '=' where Node's decoding of a cut stops: only a search finds the middle.
    const images = [png(200, 200, 41), jpg(200, 200, 42), gif(200, 200, 43), png(160, 160, 44)];
    const [a, b, c] = images.slice(0, 3).map((i) => i.toString('base64')) as string[];
    const wrapped = (b as string).match(/.{1,76}/g)?.join('\r\n');
    const percent = [...(images[3] as Buffer)].map((x) => `%${x.toString(16).padStart(2, '0')}`);
    const post = [
      `# Trip\n![one](data:image/png;base64,${a}) and`,
      `<img src="DATA:image/jpeg; BASE64 ,\r\n${wrapped}">`,
      `{"gif":"${c}"}`,
      `<div style="background:url(data:image/png,${percent.join('')})">`,
    ].join(' text, more text ');
    const found = imagesIn(post) as Buffer[];
    expect(found).toHaveLength(4);
    for (const image of images) expect(found.some((bytes) => bytes.equals(image))).toBe(true);
  });

  it('a data: URL written with an HTML entity for its colon is still found by its base64', () => {
    const image = jpg(200, 200, 45);
    const found = imagesIn(`<img src="data&colon;image/jpeg;base64,${image.toString('base64')}">`);
    expect(found.some((bytes) => (bytes as Buffer).equals(image))).toBe(true);
  });

  it('a signature a UTF-8 decoding destroyed is refused as mangled', () => {
    expect(imagesIn(image.toString('utf8'))).toEqual([MANGLED]);
  });
});

describe('handOverFieldImages', () => {
  /** How a handler turns each field back into bytes: the field's own encoding. */
  const decoders: Record<string, (value: string) => Buffer> = {
    raw: (v) => Buffer.from(v, 'latin1'),
    b64: (v) => Buffer.from(v, 'base64'),
    b64url: (v) => Buffer.from(v, 'base64url'),
    hex: (v) => Buffer.from(v, 'hex'),
    le: (v) => Buffer.from(v, 'utf16le'),
    be: (v) => Buffer.from(v, 'utf16le').swap16(),
  };

  it('puts sanitized bytes back in the encoding each image was found in', () => {
    // Even-length, so that it has a UTF-16 form (a zero byte after IEND if need be).
    const drawn = png(200, 200, 21);
    const image = Buffer.concat([drawn, Buffer.alloc(drawn.length % 2)]);
    const body: Record<string, string> = {
      raw: image.toString('latin1'),
      b64: image.toString('base64'),
      b64url: `${image.toString('base64url')}_-`.slice(0, -2),
      hex: image.toString('hex'),
      le: image.toString('utf16le'),
      be: Buffer.from(image).swap16().toString('utf16le'),
    };
    // A value whose base64url form has no '-' or '_' reads as plain base64: make sure this one has.
    expect(/[-_]/.test(body.b64url as string)).toBe(true);
    const found = findFieldImages(body).filter((f) => f.bytes?.equals(image));
    expect(found.map((f) => f.path).sort()).toEqual(Object.keys(decoders).sort());
    // What `sanitize` made of each: a different, odd-length image (UTF-16 must pad it).
    const other = png(160, 160, 22);
    const sanitized = Buffer.concat([other, Buffer.alloc((other.length + 1) % 2, 0x7a)]);
    expect(sanitized.length % 2).toBe(1);
    handOverFieldImages(
      found,
      found.map(() => ({ bytes: sanitized, original: image })),
      found.map(() => ({ mimetype: 'image/png' })),
    );
    for (const [field, decode] of Object.entries(decoders)) {
      const back = decode(body[field] as string);
      expect(back.subarray(0, sanitized.length).equals(sanitized), field).toBe(true);
      // Only UTF-16 adds a byte, a zero after the image's end.
      expect(back.length - sanitized.length, field).toBe(field === 'le' || field === 'be' ? 1 : 0);
    }
  });

  it('writes UTF-8 back only when UTF-8 holds the bytes exactly, and refuses otherwise', () => {
    const body: Record<string, string> = { u: 'GIF89a' };
    const image = { path: 'u', holder: body, key: 'u', encoding: 'utf8' as const, prefix: '' };
    const ascii = Buffer.from('GIF89a\u0001\u0000\u0001\u0000;', 'latin1');
    handOverFieldImages(
      [{ ...image, bytes: Buffer.from('GIF89a', 'latin1') }],
      [{ bytes: ascii, original: Buffer.alloc(0) }],
      [{ mimetype: 'image/gif' }],
    );
    expect(Buffer.from(body.u as string, 'utf8').equals(ascii)).toBe(true);
    const binary = Buffer.concat([ascii, Buffer.from([0xff, 0xfe])]);
    expect(() =>
      handOverFieldImages(
        [{ ...image, bytes: ascii }],
        [{ bytes: binary, original: ascii }],
        [{ mimetype: 'image/gif' }],
      ),
    ).toThrow(expect.objectContaining({ code: 'INVALID_IMAGE' }));
  });

  it('puts sanitized bytes back in the span of each image among other text, the text kept', () => {
    const [one, two] = [png(200, 200, 46), jpg(200, 200, 47)] as const;
    const percent = (bytes: Buffer) =>
      [...bytes].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('');
    const body = {
      post: `a ![x](data:image/png;base64,${one.toString('base64url')}) b <img src="data:image/jpeg,${percent(two)}"> c`,
    };
    const found = findFieldImages(body);
    expect(found.map((f) => f.encoding)).toEqual(['embedded', 'embedded']);
    const [newOne, newTwo] = [png(160, 160, 48), jpg(160, 160, 49)] as const;
    handOverFieldImages(
      found,
      [
        { bytes: newOne, original: one },
        { bytes: newTwo, original: two },
      ],
      [{ mimetype: 'image/png' }, { mimetype: 'image/jpeg' }],
    );
    // The text around each image as it was; each span now decodes, as it is written, to the new bytes.
    const [head, middle, tail] = body.post.split(/(?<=base64,|jpeg,)[^)"]+/);
    expect([head, middle, tail]).toEqual([
      'a ![x](data:image/png;base64,',
      ') b <img src="data:image/jpeg,',
      '"> c',
    ]);
    const again = findFieldImages(body);
    expect(again.map((f) => f.bytes?.equals(newOne) || f.bytes?.equals(newTwo))).toEqual([
      true,
      true,
    ]);
    expect(body.post).toContain(newOne.toString('base64url'));
  });

  it.each([
    [
      'hex before a comma, base64 after it',
      (a: Buffer) => `${a.toString('hex')},${a.toString('base64')}`,
    ],
    [
      "base64 split by a character Node's decoding skips, then plain",
      (a: Buffer) => {
        const text = a.toString('base64');
        return `${text.slice(0, 100)}!${text.slice(100)} ${text}`;
      },
    ],
    [
      'wrapped base64, then a second image after a comma',
      (a: Buffer, b: Buffer) =>
        `${a.toString('base64').replace(/.{76}/g, '$&\n')},${b.toString('base64').replace(/^.{100}/, '$&!')}`,
    ],
  ])('refuses a value that still holds an image as uploaded once rewritten: %s', (_, write) => {
    const [one, two] = [png(200, 200, 24), png(180, 180, 25)] as const;
    const body = { post: write(one, two) };
    const found = findFieldImages(body);
    expect(found.some((f) => f.bytes?.equals(one))).toBe(true);
    // Before, one copy kept the bytes as uploaded: a decoding of the handed-on text read them.
    expect(() =>
      handOverFieldImages(
        found,
        found.map((f, i) => ({ bytes: png(160, 160, 26 + i), original: f.bytes })),
        found.map(() => ({ mimetype: 'image/png' })),
      ),
    ).toThrow(expect.objectContaining({ code: 'INVALID_IMAGE' }));
  });

  it('leaves a field whose image sanitize did not change as it was', () => {
    const image = png(200, 200, 23);
    const body = { b64: image.toString('base64') };
    const found = findFieldImages(body);
    handOverFieldImages(found, [{ bytes: image }], [{ mimetype: 'image/png' }]);
    expect(body.b64).toBe(image.toString('base64'));
  });
});
