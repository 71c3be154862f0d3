-- ARGV: consumer, visibility timeout (ms), count, max_attempts, now (ms).
-- Returns {deliveries, next_due}: deliveries reclaimed from consumers whose visibility timeout
-- expired, as {id, fields, attempt}; next_due is when the next waiting retry is due, or nil.
local consumer, visibility, count = ARGV[1], ARGV[2], ARGV[3]
local max_attempts, now = tonumber(ARGV[4]), ARGV[5]

-- From 0 rather than $: entries added before the first consumer came are work too. An existing
-- group answers BUSYGROUP, which is fine.
redis.pcall('XGROUP', 'CREATE', KEYS[1], 'workers', '0', 'MKSTREAM')

-- Retries that are due go back to the end of the stream as new entries carrying their attempts
-- so far and the reason; the original, acknowledged when it was given back, goes away.
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, count)) do
  redis.call('ZREM', KEYS[3], member)
  local id, attempts, reason = string.match(member, '^(%S+) (%d+) (.*)$')
  local entry = redis.call('XRANGE', KEYS[1], id, id)[1]
  -- No entry: it was acknowledged while it waited.
  if entry then
    redis.call('XADD', KEYS[1], '*', unpack(carry(entry[2], {'a', attempts, 'r', reason})))
    redis.call('XDEL', KEYS[1], id)
  end
end

local deliveries = {}
local claimed = redis.call('XAUTOCLAIM', KEYS[1], 'workers', consumer, visibility, '0-0', 'COUNT', count)[2]
for _, entry in ipairs(claimed) do
  local id, fields = entry[1], entry[2]
  -- XAUTOCLAIM has just counted this delivery.
  local delivered = redis.call('XPENDING', KEYS[1], 'workers', id, id, 1)[1][4]
  local attempt = tonumber(field(fields, 'a') or '0') + delivered
  if attempt > max_attempts then
    local reason = 'not acknowledged within the visibility timeout (' .. visibility .. ' ms) after '
      .. (attempt - 1) .. ' attempts'
    local last = field(fields, 'r')
    if last then
      reason = reason .. '; last error: ' .. last
    end
    bury(id, fields, attempt - 1, reason, now)
  else
    deliveries[#deliveries + 1] = {id, fields, attempt}
  end
end

local next_due = false
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if first[2] then
  next_due = tonumber(first[2])
end
return {deliveries, next_due}
