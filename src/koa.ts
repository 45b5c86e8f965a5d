// `photodna-guard/koa`: the Koa adapter.
export * from './adapters/koa.js';
