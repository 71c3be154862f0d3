-- KEYS[1]: the topic's stream. ARGV: max_pending, key, payload, now (ms).
-- Returns the new entry's id, or the pending count (an integer) when the topic is full.
-- XLEN is the backlog: acknowledged and dead-lettered entries are deleted from the stream.
local pending = redis.call('XLEN', KEYS[1])
if pending >= tonumber(ARGV[1]) then
  return pending
end
return redis.call('XADD', KEYS[1], '*', 'k', ARGV[2], 'p', ARGV[3], 't', ARGV[4])
