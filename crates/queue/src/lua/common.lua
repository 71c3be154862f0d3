-- Shared by claim.lua and retry.lua. KEYS[1] is the topic's stream, KEYS[2] its dead-letter
-- stream, KEYS[3] its sorted set of retries waiting for their delay. The consumer group is
-- always 'workers'.

local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then
      return fields[i + 1]
    end
  end
  return nil
end

-- Appends the message's own fields (key, payload, enqueue time) to `into`.
local function carry(fields, into)
  for _, name in ipairs({'k', 'p', 't'}) do
    local value = field(fields, name)
    if value then
      into[#into + 1] = name
      into[#into + 1] = value
    end
  end
  return into
end

-- Moves entry `id` from the stream to the dead letters.
local function bury(id, fields, attempts, reason, now)
  redis.call('XADD', KEYS[2], '*', unpack(carry(fields, {'i', id, 'a', attempts, 'r', reason, 'd', now})))
  redis.call('XACK', KEYS[1], 'workers', id)
  redis.call('XDEL', KEYS[1], id)
end
