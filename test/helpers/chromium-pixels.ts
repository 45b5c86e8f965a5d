import type { Page } from 'playwright-core';

/** In the page: the RGBA pixels an image (type, base64) shows first, as a canvas draws it. */
const FIRST_FRAME_PIXELS = `async (type, base64) => {
  const image = new Image();
  image.src = 'data:' + type + ';base64,' + base64;
  await image.decode();
  const canvas = document.createElement('canvas');
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  return [...context.getImageData(0, 0, canvas.width, canvas.height).data];
}`;

/** The RGBA pixels Chromium shows of an image (its first frame), drawn on a canvas in sRGB. */
export async function pixelsShown(
  page: Page,
  bytes: Buffer,
  type = 'image/png',
): Promise<Uint8Array> {
  const rgba: number[] = await page.evaluate(
    `(${FIRST_FRAME_PIXELS})('${type}', '${bytes.toString('base64')}')`,
  );
  return Uint8Array.from(rgba);
}
