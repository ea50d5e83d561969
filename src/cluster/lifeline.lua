#!lua name=lifeline
-- The cluster's shared state, changed only through these functions, each of
-- which Redis runs atomically (docs/cluster.md has the layout). Every key
-- starts with the prefix P ("{lifeline}" by default: the braces are a Redis
-- Cluster hash tag, so every key lives in one slot and a function may touch
-- any of them).
--
-- Every writing function takes P, node, instance, epoch first and refuses
-- ('fenced' or 'epoch') unless this node run is still a member of this
-- dataset: a node frozen past its lease, or one that missed a Redis restart,
-- can never write stale state back.
--
-- Session numbers travel as strings: Lua numbers are doubles.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function refused(P, node, inst, epoch)
  if redis.call('GET', P .. ':epoch') ~= epoch then
    return 'epoch'
  end
  if redis.call('HGET', P .. ':nodes', node) ~= inst then
    return 'fenced'
  end
  return nil
end

-- A writing function, callable only by a member node run (its first four
-- arguments: P, node, inst, epoch); anyone else gets {'fenced'} or {'epoch'}.
local function members_only(fn)
  return function(keys, a)
    local why = refused(a[1], a[2], a[3], a[4])
    if why then
      return {why}
    end
    return fn(keys, a)
  end
end

local function emit(P, maxlen, fields)
  return redis.call('XADD', P .. ':events', 'MAXLEN', '~', maxlen, '*', unpack(fields))
end

local function decode_list(raw)
  if not raw then
    return {}
  end
  return cjson.decode(raw)
end

-- The id's last session `e` ended. With a grace period (and an end that was
-- not a goodbye) the offline waits in P:gone until reap() finds it due, and a
-- new session of the id within it turns into `moved` or `resumed` instead.
local function went_offline(P, maxlen, grace, id, e, reason, at, ls)
  if grace > 0 and reason ~= 'bye' and reason ~= 'kicked' then
    redis.call('HSET', P .. ':gone', id, cjson.encode({node = e.node, s = e.s, rem = e.rem, t = e.t,
                                                        r = reason, at = at, ls = ls}))
    redis.call('ZADD', P .. ':grace', now_ms() + grace, id)
    return 'grace'
  end
  emit(P, maxlen, {'k', 'offline', 'id', id, 'node', e.node, 's', e.s, 'rem', e.rem, 't', e.t,
                   'r', reason, 'at', at, 'ls', ls})
  return 'offline'
end

-- Removes session s of id from the online list: `leave` if the id keeps
-- other sessions, else offline (or grace). Nothing if it is not listed.
local function drop_session(P, maxlen, grace, id, node, s, reason, at, ls)
  local list = decode_list(redis.call('HGET', P .. ':online', id))
  for i, e in ipairs(list) do
    if e.node == node and e.s == s then
      table.remove(list, i)
      if #list > 0 then
        redis.call('HSET', P .. ':online', id, cjson.encode(list))
        emit(P, maxlen, {'k', 'leave', 'id', id, 'node', node, 's', s, 'rem', e.rem, 't', e.t,
                         'r', reason, 'at', at, 'ls', ls})
        return 'leave'
      end
      redis.call('HDEL', P .. ':online', id)
      return went_offline(P, maxlen, grace, id, e, reason, at, ls)
    end
  end
  return 'absent'
end

-- Every session of a node whose lease is gone: offline `node_lost`, once,
-- since the node's record goes in the same step.
local function reap_node(P, maxlen, grace, n, at)
  local held = redis.call('HGETALL', P .. ':held:' .. n)
  for i = 1, #held, 2 do
    drop_session(P, maxlen, grace, held[i + 1], n, held[i], 'node_lost', at, at)
  end
  redis.call('DEL', P .. ':held:' .. n, P .. ':sync:' .. n)
  redis.call('HDEL', P .. ':nodes', n)
  return #held / 2
end

local function add_session(P, maxlen, node, id, s, entry, policy, max, at)
  local list = decode_list(redis.call('HGET', P .. ':online', id))
  for _, e in ipairs(list) do
    if e.node == node and e.s == s then
      return {'ok', 'present'}
    end
  end
  local kind, pn, ps = 'online', '', ''
  if #list > 0 then
    if policy == 'reject' or (policy == 'multi' and #list >= max) then
      return {'rejected', list[1].node}
    end
    if policy == 'multi' then
      kind = 'join'
    else
      kind, pn, ps = 'takeover', list[1].node, list[1].s
      for _, e in ipairs(list) do
        redis.call('HDEL', P .. ':held:' .. e.node, e.s)
      end
      list = {}
    end
  else
    local gone = redis.call('HGET', P .. ':gone', id)
    if gone then
      local g = cjson.decode(gone)
      redis.call('HDEL', P .. ':gone', id)
      redis.call('ZREM', P .. ':grace', id)
      kind, pn, ps = (g.node == node) and 'resumed' or 'moved', g.node, g.s
    end
  end
  table.insert(list, cjson.decode(entry))
  redis.call('HSET', P .. ':online', id, cjson.encode(list))
  redis.call('HSET', P .. ':held:' .. node, s, id)
  emit(P, maxlen, {'k', kind, 'id', id, 'node', node, 's', s, 'at', at, 'e', entry, 'pn', pn, 'ps', ps})
  return {'ok', kind, pn, ps}
end

-- register(P, node, inst, epoch_if_new, ttl_ms, maxlen, grace_ms, at_ms, member_of)
--   -> {'ok', epoch} | {'in_use', epoch, pttl} | {'fenced', epoch}
-- member_of: the epoch this run was a member of before ('' at first): a run
-- that was reaped meanwhile may not come back under the same instance.
local function register(_, a)
  local P, node, inst = a[1], a[2], a[3]
  local ttl, maxlen, grace, at = a[5], a[6], tonumber(a[7]), a[8]
  local epoch = redis.call('GET', P .. ':epoch')
  if not epoch then
    epoch = a[4]
    redis.call('SET', P .. ':epoch', epoch)
  end
  if a[9] == epoch and redis.call('HGET', P .. ':nodes', node) ~= inst then
    return {'fenced', epoch}
  end
  local lease = redis.call('GET', P .. ':lease:' .. node)
  if lease and lease ~= inst then
    return {'in_use', epoch, redis.call('PTTL', P .. ':lease:' .. node)}
  end
  local old = redis.call('HGET', P .. ':nodes', node)
  if old and old ~= inst then
    reap_node(P, maxlen, grace, node, at)  -- the sessions of this node's previous run
  end
  redis.call('HSET', P .. ':nodes', node, inst)
  redis.call('SET', P .. ':lease:' .. node, inst, 'PX', ttl)
  return {'ok', epoch}
end

-- renew(P, node, inst, epoch, ttl_ms)
local function renew(_, a)
  redis.call('SET', a[1] .. ':lease:' .. a[2], a[3], 'PX', a[5])
  return {'ok'}
end

-- join(P, node, inst, epoch, maxlen, id, session, entry_json, policy, max, at_ms)
local function join(_, a)
  return add_session(a[1], a[5], a[2], a[6], a[7], a[8], a[9], tonumber(a[10]), a[11])
end

-- leave(P, node, inst, epoch, maxlen, id, session, reason, at_ms, last_seen_ms, grace_ms)
local function leave(_, a)
  local P, node = a[1], a[2]
  redis.call('HDEL', P .. ':held:' .. node, a[7])
  return {'ok', drop_session(P, a[5], tonumber(a[11]), a[6], node, a[7], a[8], a[9], a[10])}
end

-- sync_put(P, node, inst, epoch, maxlen, policy, max, at_ms, then id, session, entry per session):
-- writes sessions back after an outage; each already listed is left as it is.
local function sync_put(_, a)
  local P, node, maxlen, policy, max, at = a[1], a[2], a[5], a[6], tonumber(a[7]), a[8]
  local rejected = {}
  for i = 9, #a, 3 do
    redis.call('SADD', P .. ':sync:' .. node, a[i + 1])
    local r = add_session(P, maxlen, node, a[i], a[i + 1], a[i + 2], policy, max, at)
    if r[1] == 'rejected' then
      table.insert(rejected, a[i + 1])
    end
  end
  return {'ok', unpack(rejected)}
end

-- sync_end(P, node, inst, epoch, maxlen, at_ms, grace_ms): every session the
-- cluster lists for this node but sync_put did not name ended meanwhile.
local function sync_end(_, a)
  local P, node, maxlen, at, grace = a[1], a[2], a[5], a[6], tonumber(a[7])
  local held = redis.call('HGETALL', P .. ':held:' .. node)
  local ended = 0
  for i = 1, #held, 2 do
    if redis.call('SISMEMBER', P .. ':sync:' .. node, held[i]) == 0 then
      redis.call('HDEL', P .. ':held:' .. node, held[i])
      drop_session(P, maxlen, grace, held[i + 1], node, held[i], 'closed', at, at)
      ended = ended + 1
    end
  end
  redis.call('DEL', P .. ':sync:' .. node)
  return {'ok', ended}
end

-- ended(P, node, inst, epoch, maxlen, id, session, reason, at_ms, last_seen_ms, remote, transport):
-- a session of this node that ended while Redis was without the cluster's
-- data (restarted empty). Nothing lists it here any more, but readers that
-- still do hear how it ended (a reader that does not list it ignores it).
local function ended(_, a)
  emit(a[1], a[5], {'k', 'offline', 'id', a[6], 'node', a[2], 's', a[7], 'rem', a[11], 't', a[12],
                    'r', a[8], 'at', a[9], 'ls', a[10]})
  return {'ok'}
end

-- reap(P, node, inst, epoch, maxlen, grace_ms, at_ms): nodes whose lease is
-- gone lose their sessions (`node_lost`), and grace periods that ran out
-- become offline events. Returns {'ok', lost node, sessions, ...}.
local function reap(_, a)
  local P, me, maxlen, grace, at = a[1], a[2], a[5], tonumber(a[6]), a[7]
  local out = {'ok'}
  local nodes = redis.call('HKEYS', P .. ':nodes')
  for _, n in ipairs(nodes) do
    if n ~= me and redis.call('EXISTS', P .. ':lease:' .. n) == 0 then
      local count = reap_node(P, maxlen, grace, n, at)
      table.insert(out, n)
      table.insert(out, count)
    end
  end
  local due = redis.call('ZRANGEBYSCORE', P .. ':grace', '-inf', now_ms())
  for _, id in ipairs(due) do
    local gone = redis.call('HGET', P .. ':gone', id)
    if gone then
      local g = cjson.decode(gone)
      emit(P, maxlen, {'k', 'offline', 'id', id, 'node', g.node, 's', g.s, 'rem', g.rem, 't', g.t,
                       'r', g.r, 'at', g.at, 'ls', g.ls})
    end
    redis.call('HDEL', P .. ':gone', id)
    redis.call('ZREM', P .. ':grace', id)
  end
  return out
end

-- leave_cluster(P, node, inst, epoch): a node that stops cleanly gives up its
-- lease (its sessions have left already, with their own reasons).
local function leave_cluster(_, a)
  if redis.call('HGET', a[1] .. ':nodes', a[2]) == a[3] then
    redis.call('HDEL', a[1] .. ':nodes', a[2])
    redis.call('DEL', a[1] .. ':lease:' .. a[2])
  end
  return {'ok'}
end

-- snapshot(P) -> {epoch or '', last event id, node count, entry lists...}: what a
-- reader needs to start, taken at one point of the event stream.
local function snapshot(_, a)
  local P = a[1]
  local epoch = redis.call('GET', P .. ':epoch') or ''
  local last = redis.call('XREVRANGE', P .. ':events', '+', '-', 'COUNT', 1)
  local out = {epoch, (#last > 0) and last[1][1] or '0-0', redis.call('HLEN', P .. ':nodes')}
  for _, v in ipairs(redis.call('HVALS', P .. ':online')) do
    table.insert(out, v)
  end
  return out
end

redis.register_function('lifeline_register', register)
redis.register_function('lifeline_renew', members_only(renew))
redis.register_function('lifeline_join', members_only(join))
redis.register_function('lifeline_leave', members_only(leave))
redis.register_function('lifeline_sync_put', members_only(sync_put))
redis.register_function('lifeline_sync_end', members_only(sync_end))
redis.register_function('lifeline_reap', members_only(reap))
redis.register_function('lifeline_ended', members_only(ended))
redis.register_function('lifeline_leave_cluster', leave_cluster)
redis.register_function{function_name = 'lifeline_snapshot', callback = snapshot, flags = {'no-writes'}}
