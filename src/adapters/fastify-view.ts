import type { FastifyReply, FastifyRequest } from 'fastify';
import type { MulterTarget } from '../multipart/selection.js';
import { type NodeRequest, NodeRequestView } from './node-view.js';
import { pathOf } from './path.js';

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
    return pathOf(this.#request.url);
  }

  ip(): string {
    return this.#request.ip;
  }
}
