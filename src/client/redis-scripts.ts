import { createHash } from 'node:crypto';

/**
 * The Lua scripts of the shared rate-limit window (`shared-window.ts`). Each runs atomically in
 * Redis and reads the time with `TIME`, so every process shares one clock.
 */

export interface Script {
  source: string;
  sha1: string;
}

/**
 * KEYS[1] the log, KEYS[2] the next ideal slot. ARGV: limit, windowMs, spacingMs, member,
 * notAfter (Redis ms; 0 = none: a command that waited in a client-side queue past it is void),
 * reserveMs. A call that may start within `reserveMs` is granted at once with its start time in
 * the future (the caller waits the difference locally: no second round trip, and the slot is
 * held for it); one that must wait longer is told to come back `reserveMs / 2` before its time.
 * Returns {1, now, delayMs} when granted, {0, now, waitMs} when not.
 */
export const TAKE = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local spacing = tonumber(ARGV[3])
local notAfter = tonumber(ARGV[5])
local reserve = tonumber(ARGV[6])
if notAfter > 0 and now > notAfter then return {0, now, 0} end
-- No call is granted more than reserve ahead, nor the next slot set more than reserve + spacing
-- ahead: anything later was written before Redis's clock stepped back (or by a primary ahead of
-- this replica), and Redis keeps such keys as long. Those calls count as started now and the
-- schedule restarts now, so a step back holds calls one window, not for the length of the step.
local horizon = now + reserve
local ahead = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%.3f', horizon), '+inf')
for _, member in ipairs(ahead) do redis.call('ZADD', KEYS[1], now, member) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
-- The earliest start: the limit-th newest call has left the window, and the spacing is kept.
local start = now
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local nth = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  start = math.max(start, tonumber(nth[2]) + window)
end
local nextAt = tonumber(redis.call('GET', KEYS[2]) or '0')
if nextAt > horizon + spacing then nextAt = now end
start = math.max(start, nextAt)
if start - now > reserve then return {0, now, math.ceil(start - now - reserve / 2)} end
redis.call('ZADD', KEYS[1], start, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window * 2)
-- The next slot follows this slot, not this (perhaps late) start: lateness up to the slack is not
-- lost. After a pause, the schedule restarts from now.
local slack = math.min(spacing / 4, 25)
redis.call('SET', KEYS[2], math.max(nextAt, start - slack) + spacing, 'PX', window * 2)
return {1, now, math.ceil(start - now)}
`;

/**
 * KEYS[1] the log. ARGV: windowMs, member. Re-dates the call to now (Redis's clock), never
 * earlier than its reserved start.
 */
export const SENT = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local reserved = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[2]) or '0')
redis.call('ZADD', KEYS[1], math.max(now, reserved), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return 1
`;

/** KEYS[1] the log. ARGV: member. */
export const FORGET = `return redis.call('ZREM', KEYS[1], ARGV[1])`;

const script = (source: string): Script => ({
  source,
  sha1: createHash('sha1').update(source).digest('hex'),
});
export const SCRIPTS = { take: script(TAKE), sent: script(SENT), forget: script(FORGET) };
