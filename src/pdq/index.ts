// `photodna-guard/pdq`: PDQ hashing, hash lists, the Hamming index and the PDQ matcher.
export { DIHEDRAL_NAMES, type DihedralName } from './bits.js';
export type { PdqComputed, PdqDihedral, PdqView } from './compute.js';
export {
  DEFAULT_MAX_PIXELS,
  type DecodeOptions,
  PdqDecodeError,
  type PdqDecodeErrorKind,
} from './decode.js';
export {
  defaultHashPool,
  type PdqDihedralResult,
  type PdqHashOptions,
  type PdqHashResult,
  pdqHash,
  pdqHashDihedral,
} from './hash.js';
export { isPdqHex } from './hash-hex.js';
export { HashPool, type HashPoolOptions } from './hash-pool.js';
export {
  type PdqListEntry,
  type PdqListFormat,
  PdqListFormatError,
  parsePdqList,
} from './list-format.js';
export type { ListedHash } from './list-set.js';
export {
  loadPdqList,
  type PdqList,
  type PdqListFile,
  type PdqListHashes,
  type PdqListSource,
  type PdqListsOption,
} from './list-source.js';
export {
  createPdqMatcher,
  type PdqFacts,
  type PdqMatcher,
  type PdqMatchFlag,
  type PdqMatchResult,
} from './matcher.js';
export type { PdqMatcherOptions } from './matcher-options.js';
export { type PdqHit, PdqIndex, pdqDistance } from './pdq-index.js';
export { SharpMissingError } from './sharp.js';
