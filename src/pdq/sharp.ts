/**
 * sharp is an optional peer dependency: imported on first use only, so hosts that do not use PDQ
 * never need it installed.
 */
import type { Sharp, SharpOptions } from 'sharp';

type SharpFactory = (input: Buffer, options?: SharpOptions) => Sharp;

/** Thrown when PDQ needs sharp and it is not installed. */
export class SharpMissingError extends Error {
  constructor(cause: unknown) {
    super('install sharp to use PDQ (npm install sharp): it decodes JPEG, PNG, GIF and TIFF', {
      cause,
    });
    this.name = 'SharpMissingError';
  }
}

let loading: Promise<SharpFactory> | undefined;

/** sharp's factory, imported once. */
export function loadSharp(): Promise<SharpFactory> {
  loading ??= import('sharp').then(
    (module) => (module as unknown as { default: SharpFactory }).default,
    (error: unknown) => {
      loading = undefined;
      throw new SharpMissingError(error);
    },
  );
  return loading;
}
