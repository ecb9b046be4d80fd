-- wrk script for the Hub load benchmark: one operation per wrk run.
--
--   wrk -t1 -c32 -d10s -s load.lua http://127.0.0.1:PORT -- op=get base=/scim/v2 token=... users=users.tsv
--
-- Arguments after "--" are key=value pairs:
--   op      the operation (see OPERATIONS below)
--   base    SCIM base path, such as /scim/v2
--   token   bearer token
--   users   TSV file of seeded users: id, userName, externalId
--   groups  file of small group ids, one per line (patch-small-group)
--   group   id of the large group (patch-large-group)
--   pool    file of user ids that are not members of the large group (patch-large-group)
--   threads number of wrk threads, so that threads split the pool (patch-large-group)
--   start   startIndex of list-last
--   total   number of users that list-page draws a startIndex from
--   out     folder where create and bulk-create write the ids they created
--   bulk    operations per /Bulk request (bulk-create, default 1000)
--   tag     text that makes created userNames unique within a run
--
-- done() prints one line "RESULT key=value ..." that run.sh parses. Latencies are in
-- microseconds, as wrk measures them.

local OPERATIONS = {
  ["get"] = true,
  ["filter-username"] = true,
  ["filter-externalid"] = true,
  ["list-first"] = true,
  ["list-last"] = true,
  ["list-page"] = true,
  ["patch-user"] = true,
  ["create"] = true,
  ["bulk-create"] = true,
  ["patch-large-group"] = true,
  ["patch-small-group"] = true,
}

local CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
local PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
local BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"

local threads = {}
local thread_count = 0

-- Runs once per thread in the main Lua state, before init().
function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

-- Per-thread state. wrk gives each thread its own Lua state, so these are not shared.
local options = {}
local headers = {}
local user_ids, user_names, external_ids = {}, {}, {}
local small_groups = {}
local pool, pool_position, pool_stride, pool_pass = {}, 1, 1, 0
local sequence = 0
local id_file = nil

-- Counters that done() reads from each thread with thread:get().
created_count = 0
failed_count = 0
reused_count = 0
first_failure = nil

local function url_encode(text)
  return (text:gsub("[^%w%-%._~]", function(character)
    return string.format("%%%02X", string.byte(character))
  end))
end

local function read_users(path)
  for line in io.lines(path) do
    local id, user_name, external_id = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)$")
    if id then
      user_ids[#user_ids + 1] = id
      user_names[#user_names + 1] = user_name
      external_ids[#external_ids + 1] = external_id
    end
  end
  if #user_ids == 0 then
    error("no users in " .. path .. "; expected lines of id, userName and externalId separated by tabs")
  end
end

local function read_lines(path, into)
  for line in io.lines(path) do
    if line ~= "" then into[#into + 1] = line end
  end
  if #into == 0 then error("no ids in " .. path) end
end

local function required(name)
  local value = options[name]
  if value == nil or value == "" then error("argument " .. name .. "= is missing") end
  return value
end

-- Builds a user resource shaped like the seeded ones (write_user_bulk in common.sh).
local function user_json(key)
  return string.format(
    '{"schemas":["%s"],"userName":"%s@load.example","externalId":"ext-%s",'
      .. '"name":{"givenName":"Given","familyName":"%s"},"displayName":"Load %s",'
      .. '"emails":[{"value":"%s@load.example","type":"work","primary":true}],"active":true}',
    CORE_USER, key, key, key, key, key)
end

local function next_key()
  sequence = sequence + 1
  return string.format("%s-%s-t%d-%d", options.tag, options.op, thread_index, sequence)
end

-- Counts a failed response that wrk does not count itself (wrk counts statuses from 400 up)
-- and keeps the first failure for the report.
local function record_failure(status, body)
  if status < 400 then failed_count = failed_count + 1 end
  if first_failure == nil then
    first_failure = tostring(status) .. " " .. (body or ""):sub(1, 300):gsub("[\r\n]", " ")
  end
end

-- Records the id of a user created by POST /Users, taken from the Location header.
local function on_create_response(status, response_headers, body)
  if status ~= 201 then
    record_failure(status, body)
    return
  end
  local location = response_headers["Location"] or response_headers["location"] or ""
  local id = location:match("/Users/([^/]+)$")
  if id then
    id_file:write(id, "\n")
    created_count = created_count + 1
  else
    record_failure(status, "201 without a Location header ending in /Users/{id}")
  end
end

-- Records the ids of the users a /Bulk request created. Entries of failed operations
-- carry no location, so every location found belongs to a created user.
local function on_bulk_response(status, _, body)
  if status ~= 200 then
    record_failure(status, body)
    return
  end
  local found = 0
  for id in body:gmatch('"location"%s*:%s*"[^"]*/Users/([^"/]+)"') do
    id_file:write(id, "\n")
    found = found + 1
  end
  created_count = created_count + found
  local expected = tonumber(options.bulk)
  if found < expected then
    record_failure(status, string.format("%d of %d bulk operations created no user: ", expected - found, expected) .. body)
  end
end

function init(args)
  for _, argument in ipairs(args) do
    local key, value = argument:match("^([%w_]+)=(.*)$")
    if not key then error("argument " .. argument .. " is not key=value") end
    options[key] = value
  end
  local op = required("op")
  if not OPERATIONS[op] then error("unknown op " .. op) end
  options.base = options.base or ""
  options.tag = options.tag or "run"
  options.bulk = options.bulk or "1000"
  math.randomseed(1000003 * (thread_index + 1) + os.time())

  headers["Accept"] = "application/scim+json"
  if options.token and options.token ~= "" then
    headers["Authorization"] = "Bearer " .. options.token
  end
  if op == "patch-user" or op == "create" or op == "bulk-create"
      or op == "patch-large-group" or op == "patch-small-group" then
    headers["Content-Type"] = "application/scim+json"
  end

  if op == "get" or op == "filter-username" or op == "filter-externalid" or op == "patch-user"
      or op == "patch-small-group" then
    read_users(required("users"))
  end
  if op == "patch-small-group" then read_lines(required("groups"), small_groups) end
  if op == "patch-large-group" then
    required("group")
    read_lines(required("pool"), pool)
    -- Threads take disjoint slices of the pool: thread i uses entries i+1, i+1+T, ...
    pool_stride = tonumber(required("threads"))
    pool_position = (thread_index % #pool) + 1
  end
  if op == "list-last" then required("start") end
  if op == "list-page" then required("total") end

  if op == "create" or op == "bulk-create" then
    id_file = assert(io.open(required("out") .. "/created-" .. op .. "-" .. thread_index .. ".txt", "w"))
    id_file:setvbuf("full")
    -- wrk calls response() only when the script defines it, and parsing every response
    -- costs time, so only the creating operations define it.
    if op == "create" then
      response = on_create_response
    else
      response = on_bulk_response
    end
  end
end

local function random_user()
  return math.random(#user_ids)
end

function request()
  local op = options.op
  local base = options.base

  if op == "get" then
    return wrk.format("GET", base .. "/Users/" .. user_ids[random_user()], headers)
  elseif op == "filter-username" then
    local filter = 'userName eq "' .. user_names[random_user()] .. '"'
    return wrk.format("GET", base .. "/Users?filter=" .. url_encode(filter), headers)
  elseif op == "filter-externalid" then
    local filter = 'externalId eq "' .. external_ids[random_user()] .. '"'
    return wrk.format("GET", base .. "/Users?filter=" .. url_encode(filter), headers)
  elseif op == "list-first" then
    return wrk.format("GET", base .. "/Users?startIndex=1&count=100", headers)
  elseif op == "list-last" then
    return wrk.format("GET", base .. "/Users?startIndex=" .. options.start .. "&count=100", headers)
  elseif op == "list-page" then
    local start = math.random(1, math.max(1, tonumber(options.total) - 99))
    return wrk.format("GET", base .. "/Users?startIndex=" .. start .. "&count=100", headers)
  elseif op == "patch-user" then
    sequence = sequence + 1
    local body = string.format(
      '{"schemas":["%s"],"Operations":[{"op":"replace","path":"displayName","value":"Patched %d-%d"}]}',
      PATCH_OP, thread_index, sequence)
    return wrk.format("PATCH", base .. "/Users/" .. user_ids[random_user()], headers, body)
  elseif op == "create" then
    return wrk.format("POST", base .. "/Users", headers, user_json(next_key()))
  elseif op == "bulk-create" then
    local operations = {}
    local batch = next_key()
    for i = 1, tonumber(options.bulk) do
      local key = batch .. "-" .. i
      operations[i] = string.format('{"method":"POST","path":"/Users","bulkId":"%s","data":%s}', key, user_json(key))
    end
    local body = string.format('{"schemas":["%s"],"Operations":[%s]}', BULK_REQUEST, table.concat(operations, ","))
    return wrk.format("POST", base .. "/Bulk", headers, body)
  elseif op == "patch-large-group" then
    local member = pool[pool_position]
    if pool_pass > 0 then reused_count = reused_count + 1 end
    pool_position = pool_position + pool_stride
    if pool_position > #pool then
      -- NOTE: past the end of its slice a thread adds the same users again. Those requests
      -- add an existing member, so done() reports how many there were.
      pool_position = (thread_index % #pool) + 1
      pool_pass = pool_pass + 1
    end
    local body = string.format(
      '{"schemas":["%s"],"Operations":[{"op":"add","path":"members","value":[{"value":"%s"}]}]}', PATCH_OP, member)
    return wrk.format("PATCH", base .. "/Groups/" .. options.group, headers, body)
  else -- patch-small-group
    local group = small_groups[math.random(#small_groups)]
    local body = string.format(
      '{"schemas":["%s"],"Operations":[{"op":"add","path":"members","value":[{"value":"%s"}]}]}',
      PATCH_OP, user_ids[random_user()])
    return wrk.format("PATCH", base .. "/Groups/" .. group, headers, body)
  end
end

function done(summary, latency, _)
  local created, failed, reused, failure = 0, 0, 0, nil
  for _, thread in ipairs(threads) do
    created = created + (thread:get("created_count") or 0)
    failed = failed + (thread:get("failed_count") or 0)
    reused = reused + (thread:get("reused_count") or 0)
    failure = failure or thread:get("first_failure")
  end
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d status_errors=%d "
      .. "timeouts=%d socket_errors=%d created=%d failed=%d reused=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    errors.status, errors.timeout, errors.connect + errors.read + errors.write, created, failed, reused))
  if failure then io.write("FIRST_FAILURE ", failure, "\n") end
end
