/**
 * `Enable-Evaluation` (the high-volume tier) adds an adult/racy classification of the image.
 * The emulator invents plausible, deterministic scores from the image's SHA-256: low enough that
 * no synthetic image is ever classified.
 */

export type EvaluationMode = 'always' | 'afterinitialquota';

export type EvaluationHeader = { ok: true; mode: EvaluationMode | undefined } | { ok: false };

/** Reads the `Enable-Evaluation` header: absent, one of the two modes, or invalid. */
export function parseEvaluationHeader(value: string | string[] | undefined): EvaluationHeader {
  if (value === undefined) return { ok: true, mode: undefined };
  const mode = (Array.isArray(value) ? value.join(',') : value).trim().toLowerCase();
  if (mode === 'always' || mode === 'afterinitialquota') return { ok: true, mode };
  return { ok: false };
}

export interface EvaluateResponse {
  AdultClassificationScore: number;
  IsImageAdultClassified: boolean;
  RacyClassificationScore: number;
  IsImageRacyClassified: boolean;
  Result: boolean;
  AdvancedInfo: Array<{ Key: string; Value: string }>;
  Status: { Code: number; Description: string; Exception: null };
  TrackingId: string;
  CacheID: string;
}

/** The `EvaluateResponse` object for an image with this SHA-256. */
export function evaluate(
  sha256: string,
  mode: EvaluationMode,
  trackingId: string,
): EvaluateResponse {
  const score = (offset: number): number =>
    Number((Number.parseInt(sha256.slice(offset, offset + 4), 16) / 0xffff / 20).toFixed(6));
  return {
    AdultClassificationScore: score(0),
    IsImageAdultClassified: false,
    RacyClassificationScore: score(4),
    IsImageRacyClassified: false,
    Result: false,
    AdvancedInfo: [{ Key: 'EvaluationMode', Value: mode }],
    Status: { Code: 3000, Description: 'OK', Exception: null },
    TrackingId: trackingId,
    CacheID: sha256.slice(0, 32),
  };
}
