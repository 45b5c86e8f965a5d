import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PathCase } from '../core/request-view.js';
import type { MulterTarget } from '../multipart/selection.js';
import { type NodeRequest, NodeRequestView } from './node-view.js';
import { decodedPathOf, type PathLeniency } from './path.js';

/**
 * A Fastify request as the core sees it: the body is Node's request (`request.raw`), which the
 * guard's content-type parser left unread; files sit on `targets` (the raw request after the
 * guard's parser, or the files collected from @fastify/multipart in `'scan'` mode).
 */
export class FastifyView extends NodeRequestView {
  readonly #request: FastifyRequest;

  constructor(request: FastifyRequest, reply: FastifyReply, targets?: readonly MulterTarget[]) {
    const raw = request.raw as NodeRequest;
    super(raw, reply.raw, targets ?? [raw], request);
    this.#request = request;
  }

  path(): string {
    return decodedPathOf(this.#request.url, routerLeniency(this.#request.server.initialConfig));
  }

  /** The matched route's URL pattern (`'/users/:id'`); unset when no route matched (a 404). */
  routePattern(): string | undefined {
    return this.#request.routeOptions?.url;
  }

  /**
   * The router's `caseSensitive` (on by default), given in `routerOptions` or, deprecated, at the
   * top level; when the two forms disagree the guard cannot tell which one the router took.
   */
  pathCase(): PathCase {
    const config = this.#request.server.initialConfig as FastifyConfig;
    const given = [config.routerOptions?.caseSensitive, config.caseSensitive];
    if (given.every((value) => value !== false)) return 'sensitive';
    if (given.every((value) => value === false)) return 'insensitive';
    return 'unknown';
  }

  ip(): string {
    return this.#request.ip;
  }
}

type FastifyConfig = PathLeniency & {
  caseSensitive?: boolean;
  routerOptions?: PathLeniency & { caseSensitive?: boolean };
};

/**
 * What the app's router overlooks in paths. Fastify 5 takes these in `routerOptions` (which
 * `initialConfig` fills with their defaults) and, deprecated, at the top level (which it lists
 * there unchanged): either one set makes the router lenient.
 */
function routerLeniency(config: FastifyConfig): PathLeniency {
  const router = config.routerOptions;
  return {
    ignoreDuplicateSlashes: router?.ignoreDuplicateSlashes || config.ignoreDuplicateSlashes,
    ignoreTrailingSlash: router?.ignoreTrailingSlash || config.ignoreTrailingSlash,
    useSemicolonDelimiter: router?.useSemicolonDelimiter || config.useSemicolonDelimiter,
  };
}
