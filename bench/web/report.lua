-- Shared by the wrk scripts: counts answers other than the expected status and prints
-- one RESULT line (requests, rate, latency percentiles) when wrk is done.
--
-- wrk reports only statuses above 399 as errors; a page that redirects to the sign-in
-- page (303) would pass unnoticed, so every script says which status it expects.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function count_unexpected(status)
   if status ~= expected_status then
      unexpected = (unexpected or 0) + 1
   end
end

function done(summary, latency, requests)
   local wrong = 0
   for _, t in ipairs(threads) do
      wrong = wrong + (t:get("unexpected") or 0)
   end
   local seconds = summary.duration / 1e6
   local errors = summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout
   io.write(string.format(
      "RESULT requests=%d seconds=%.1f per_second=%.1f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f unexpected_status=%d socket_errors=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(95) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, wrong, errors))
end
