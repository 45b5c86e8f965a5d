// `photodna-guard/fastify`: the Fastify 5 plugin.
export * from './adapters/fastify.js';
