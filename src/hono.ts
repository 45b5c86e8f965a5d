// `photodna-guard/hono`: the Hono middleware.
export * from './adapters/hono.js';
