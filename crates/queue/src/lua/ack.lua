-- KEYS[1]: the topic's stream. ARGV: the ids. Returns how many entries were deleted.
-- XACK fails when the group does not exist yet; then nothing was delivered and there is nothing
-- to acknowledge.
redis.pcall('XACK', KEYS[1], 'workers', unpack(ARGV))
return redis.call('XDEL', KEYS[1], unpack(ARGV))
