-- wrk: the admin center's users page (the URL given to wrk, with its query) as a
-- signed-in admin. PB_SESSION is the value of the pb_session cookie.
package.path = package.path .. ";" .. (debug.getinfo(1, "S").source:match("@(.*/)") or "./") .. "?.lua"
require "report"

expected_status = 200
wrk.headers["Cookie"] = "pb_session=" .. os.getenv("PB_SESSION")

function response(status, headers, body)
   count_unexpected(status)
end
