-- KEYS[1]: the topic's stream, KEYS[2]: its dead letters. Returns {pending, in flight, dead}.
-- XPENDING fails when the group does not exist yet: nothing is in flight then.
local summary = redis.pcall('XPENDING', KEYS[1], 'workers')
local in_flight = 0
if not summary.err then
  in_flight = summary[1]
end
return {redis.call('XLEN', KEYS[1]), in_flight, redis.call('XLEN', KEYS[2])}
