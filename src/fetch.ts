// `photodna-guard/fetch`: the guard for Web-standard `Request` handlers (Next.js, Remix, Bun, Deno).
// Named one by one: the adapter's `checker` takes the guard's internal core, which users never
// hold, so it stays out of the public API (the Hono adapter imports it from the adapter itself).
export {
  type Checker,
  type CheckInfo,
  type CheckPassed,
  type CheckRejected,
  type CheckResult,
  CLIENT_GONE_STATUS,
  type FetchGuard,
  type FetchRouteGuard,
  photodnaGuard,
} from './adapters/fetch.js';
