import { sha256Hex } from './hash.js';
import { encodePng } from './png-encode.js';

/**
 * The emulator's harmless synthetic "known" images: 320x320 PNGs of diagonal coloured stripes
 * with "TEST" written across them in large white block letters. They are on the default known
 * list, so uploading one shows a match. They are generated at runtime (nothing binary ships);
 * their bytes, and so their SHA-256, depend only on the zlib of the running Node.js.
 */

type Rgb = readonly [number, number, number];

const SIZE = 320;
const SCALE = 12;
const STRIPE = 20;

/** 5x7 glyphs, one string per row, `#` = ink. */
const GLYPHS: Readonly<Record<'T' | 'E' | 'S', readonly string[]>> = {
  T: ['#####', '..#..', '..#..', '..#..', '..#..', '..#..', '..#..'],
  E: ['#####', '#....', '#....', '####.', '#....', '#....', '#####'],
  S: ['.####', '#....', '#....', '.###.', '....#', '....#', '####.'],
};

const WORD = ['T', 'E', 'S', 'T'] as const;
const TEXT_COLUMNS = WORD.length * 6 - 1;
const LEFT = Math.floor((SIZE - TEXT_COLUMNS * SCALE) / 2);
const TOP = Math.floor((SIZE - 7 * SCALE) / 2);

const VARIANTS: ReadonlyArray<{ name: string; stripes: readonly [Rgb, Rgb]; slope: 1 | -1 }> = [
  {
    name: 'photodna-test-red.png',
    stripes: [
      [200, 30, 30],
      [250, 180, 40],
    ],
    slope: 1,
  },
  {
    name: 'photodna-test-green.png',
    stripes: [
      [20, 140, 60],
      [60, 200, 200],
    ],
    slope: -1,
  },
  {
    name: 'photodna-test-blue.png',
    stripes: [
      [30, 60, 190],
      [170, 60, 200],
    ],
    slope: 1,
  },
];

function isInk(x: number, y: number): boolean {
  const column = Math.floor((x - LEFT) / SCALE);
  const row = Math.floor((y - TOP) / SCALE);
  if (x < LEFT || y < TOP || column >= TEXT_COLUMNS || row >= 7) return false;
  const letter = WORD[Math.floor(column / 6)];
  const glyphColumn = column % 6;
  if (letter === undefined || glyphColumn === 5) return false;
  return GLYPHS[letter][row]?.[glyphColumn] === '#';
}

function render(stripes: readonly [Rgb, Rgb], slope: 1 | -1): Buffer {
  return encodePng(SIZE, SIZE, (x, y) => {
    if (isInk(x, y)) return [255, 255, 255];
    const band = Math.floor((x + slope * y + SIZE) / STRIPE) % 2;
    return band === 0 ? stripes[0] : stripes[1];
  });
}

export interface TestImage {
  name: string;
  bytes: Buffer;
  /** Hex SHA-256 of `bytes`. */
  sha256: string;
}

let cache: TestImage[] | undefined;

/** The shipped synthetic test images (fresh copies of the bytes on each call). */
export function testImages(): TestImage[] {
  cache ??= VARIANTS.map(({ name, stripes, slope }) => {
    const bytes = render(stripes, slope);
    return { name, bytes, sha256: sha256Hex(bytes) };
  });
  return cache.map((image) => ({ ...image, bytes: Buffer.from(image.bytes) }));
}

/** One test image by file name, if it exists. */
export function testImage(name: string): TestImage | undefined {
  return testImages().find((image) => image.name === name);
}
