/**
 * sharp is an optional peer dependency: imported on first use only, so hosts that do not use PDQ
 * or `sanitize: 'reencode'` never need it installed. Kept apart from `SharpMissingError`
 * (public) so the package's type declarations never import sharp's.
 */
import { createRequire } from 'node:module';
import type { Sharp, SharpOptions } from 'sharp';
import { SharpMissingError } from './sharp.js';

/** sharp's default export, as this package calls it. */
export type SharpFactory = (input?: Buffer, options?: SharpOptions) => Sharp;

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

/** What an option that needs sharp says when it is not installed. */
export const SHARP_NEEDED =
  "'reencode' needs sharp, an optional peer dependency that is not installed: npm install sharp";

/**
 * Whether sharp can be found from here, asked synchronously (an option that needs it fails when
 * the guard is created, not at the first upload). `resolve` is Node's resolver unless given.
 */
export function sharpInstalled(
  resolve: (name: string) => string = createRequire(import.meta.url).resolve,
): boolean {
  try {
    resolve('sharp');
    return true;
  } catch {
    return false;
  }
}
