-- rotate.lua: the wrk script of vexenbench. Every request carries the next access
-- token from a file (one per line) as "Authorization: Bearer TOKEN".
--
--   wrk -t T -c C -d 10s --latency -s rotate.lua URL -- TOKENFILE T
--
-- Thread k (1..T) sends tokens k, k+T, k+2T, ... so threads never share a token, and
-- every request string is built once in init(): request() only picks the next one,
-- which keeps the script's cost per request to a table lookup.
--
-- done() prints one machine-readable line:
--   vexenbench-wrk requests=N duration_us=N p50_us=N p75_us=N p90_us=N p99_us=N
--     max_us=N status_errors=N connect_errors=N read_errors=N write_errors=N
--     timeout_errors=N repeats=N
-- repeats counts requests that carried a token this run had already sent (the
-- file was shorter than the run): zero means every request's token was new.

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("id", counter)
   table.insert(threads, thread)
end

local reqs = {}
local n = 0
local idx = 0
sent = 0
slice = 0

function init(args)
   local path = args[1]
   local nthreads = tonumber(args[2]) or 1
   if path == nil then
      error("rotate.lua: usage: -- TOKENFILE THREADS")
   end
   local k = 0
   for line in io.lines(path) do
      if #line > 0 then
         if k % nthreads == (id - 1) then
            n = n + 1
            reqs[n] = wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. line })
         end
         k = k + 1
      end
   end
   if n == 0 then
      error("rotate.lua: no tokens for thread " .. id .. " in " .. path)
   end
   slice = n
end

function request()
   idx = idx + 1
   if idx > n then
      idx = 1
   end
   sent = sent + 1
   return reqs[idx]
end

function done(summary, latency, requests)
   local repeats = 0
   for _, t in ipairs(threads) do
      local s = t:get("sent") or 0
      local sl = t:get("slice") or 0
      if s > sl then
         repeats = repeats + (s - sl)
      end
   end
   local e = summary.errors
   io.write(string.format(
      "vexenbench-wrk requests=%d duration_us=%d p50_us=%d p75_us=%d p90_us=%d p99_us=%d max_us=%d status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeout_errors=%d repeats=%d\n",
      summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(99), latency.max,
      e.status, e.connect, e.read, e.write, e.timeout, repeats))
end
