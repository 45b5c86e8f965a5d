// `photodna-guard/fetch`: the guard for Web-standard `Request` handlers (Next.js, Remix, Bun, Deno).
export * from './adapters/fetch.js';
