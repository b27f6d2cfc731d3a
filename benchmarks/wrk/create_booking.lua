-- POST /api/bookings/ as a seeded client, each request a different slot (a taken slot
-- would answer 409 without the work of a booking). BENCH_SERVICES: how many services.
local services = tonumber(os.getenv("BENCH_SERVICES") or "24")
local base = 1924992000  -- 2031-01-01T00:00:00Z
math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0) % 100000)

request = function()
  local at = base + math.random(1, 2500000) * 86400 + math.random(0, 23) * 3600
  local body = string.format('{"service": %d, "starts_at": "%s"}', math.random(1, services), os.date("!%Y-%m-%dT%H:00:00+00:00", at))
  return wrk.format("POST", "/api/bookings/", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer client-" .. math.random(1, 30)}, body)
end
