-- wrk scenario script for scripts/bench.sh. SCENARIO picks the request; FIXTURE_DIR holds the
-- key and ids written by `switchboard seed-bench`. Every response is checked: a non-200 status
-- or a GraphQL `errors` member counts as an error.

local scenario = os.getenv("SCENARIO")
local dir = os.getenv("FIXTURE_DIR")

local function lines(path)
  local t = {}
  for l in io.lines(path) do t[#t + 1] = l end
  return t
end

local secret = lines(dir .. "/secret")[1]
local client = lines(dir .. "/client")[1]
local location = lines(dir .. "/location")[1]
local patients = lines(dir .. "/patients")
local tests = lines(dir .. "/tests")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. secret

local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

-- PAUSE_MS: each connection waits this long between requests (a steady rate instead of as
-- fast as the server answers; bench.sh's "wh").
local pause = tonumber(os.getenv("PAUSE_MS") or "")
if pause and pause > 0 then
  function delay() return pause end
end

errors = 0
local counter = 0
local tag

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  -- Unique per run and thread, so M1's external ids never collide across runs either.
  tag = string.format("%d-%d-%d", os.time(), tid, math.random(1, 1000000000))
end

local Q1 = '{"query":"query Q1($c:ID!){ patients(first: 50, filter: { clientId: $c }) { nodes { id firstName lastName tests { id status testCode } } } }","variables":{"c":"%s"}}'
local Q2 = '{"query":"query Q2($id:ID!){ patient(id: $id) { id externalPatientId firstName lastName dateOfBirth email } }","variables":{"id":"%s"}}'
local M1 = '{"query":"mutation M1($i:CreatePatientInput!){ createPatient(input: $i) { patient { id } } }","variables":{"i":{"clientId":"%s","locationId":"%s","externalPatientId":"M1-%s-%d","firstName":"Load","lastName":"Test"}}}'
local M2 = '{"query":"mutation M2($id:ID!){ updateTest(id: $id, input: { status: RESULTED }) { id status } }","variables":{"id":"%s"}}'

-- Hostile documents (scenario "hostile", run beside Q2 by bench.sh's "q2h"): fragments that
-- double at every level, 500 aliased lists, and a selection set too large. Each must be
-- refused with QUERY_TOO_COMPLEX; anything else counts as an error.
local function doubling(depth)
  local parts = { "query { ...F0 }" }
  for i = 0, depth - 1 do
    parts[#parts + 1] = string.format("fragment F%d on Query { ...F%d ...F%d viewer { kind } }", i, i + 1, i + 1)
  end
  parts[#parts + 1] = string.format("fragment F%d on Query { patients { nodes { id tests { id } } } }", depth)
  return table.concat(parts, " ")
end
local function aliases(n)
  local parts = {}
  for i = 1, n do parts[#parts + 1] = string.format("a%d: patients(first: 100) { nodes { id } }", i) end
  return "{ " .. table.concat(parts, " ") .. " }"
end
local HOSTILE = {
  '{"query":"' .. doubling(40) .. '"}',
  '{"query":"' .. aliases(500) .. '"}',
  '{"query":"{ viewer { ' .. string.rep("kind ", 1500) .. '} }"}',
}

function request()
  counter = counter + 1
  if scenario == "hostile" then
    return wrk.format(nil, "/graphql", nil, HOSTILE[counter % #HOSTILE + 1])
  end
  if scenario == "healthz" then
    return wrk.format("GET", "/healthz", {}, nil)
  elseif scenario == "q1" then
    return wrk.format(nil, "/graphql", nil, string.format(Q1, client))
  elseif scenario == "q2" then
    return wrk.format(nil, "/graphql", nil, string.format(Q2, patients[math.random(#patients)]))
  elseif scenario == "m1" then
    return wrk.format(nil, "/graphql", nil, string.format(M1, client, location, tag, counter))
  elseif scenario == "m2" then
    return wrk.format(nil, "/graphql", nil, string.format(M2, tests[(counter + tid * 997) % #tests + 1]))
  end
  error("unknown SCENARIO " .. tostring(scenario))
end

function response(status, headers, body)
  if scenario == "hostile" then
    if status ~= 200 or not string.find(body, "QUERY_TOO_COMPLEX", 1, true) then
      errors = errors + 1
    end
    return
  end
  if status ~= 200 or (scenario ~= "healthz" and string.find(body, '"errors"', 1, true)) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local errs = 0
  for _, t in ipairs(threads) do errs = errs + t:get("errors") end
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, errs, e.connect + e.read + e.write + e.timeout))
end
