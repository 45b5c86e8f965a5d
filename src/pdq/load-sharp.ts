/**
 * sharp is an optional peer dependency: imported on first use only, so hosts that do not use PDQ
 * never need it installed. Kept apart from `SharpMissingError` (public) so the package's type
 * declarations never import sharp's.
 */
import type { Sharp, SharpOptions } from 'sharp';
import { SharpMissingError } from './sharp.js';

type SharpFactory = (input: Buffer, options?: SharpOptions) => Sharp;

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
