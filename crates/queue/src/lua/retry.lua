-- ARGV: id, due (ms), reason, max_attempts, now (ms).
-- Returns 0 when the id is not in flight, 1 when it waits for its retry, 2 when it was
-- dead-lettered because that was its last attempt.
local id = ARGV[1]
local pending = redis.pcall('XPENDING', KEYS[1], 'workers', id, id, 1)
if pending.err or not pending[1] then
  return 0
end
local entry = redis.call('XRANGE', KEYS[1], id, id)[1]
if not entry then
  redis.call('XACK', KEYS[1], 'workers', id)
  return 0
end
local attempts = tonumber(field(entry[2], 'a') or '0') + pending[1][4]
if attempts >= tonumber(ARGV[4]) then
  bury(id, entry[2], attempts, ARGV[3], ARGV[5])
  return 2
end
-- Acknowledged so that XAUTOCLAIM leaves it alone, but kept in the stream (so it still counts as
-- pending) until claim.lua re-adds it when it is due.
redis.call('XACK', KEYS[1], 'workers', id)
redis.call('ZADD', KEYS[3], ARGV[2], id .. ' ' .. attempts .. ' ' .. ARGV[3])
return 1
