-- wrk: PIN resets through the REST API (the same App::set_user as the admin center's
-- Reset button), cycling over PB_USERS enabled users user000000@contoso.example ...
-- so that concurrent resets rarely wait for one user's row lock. PB_TOKEN is an API
-- token. Each reset hashes the new PIN with Argon2id and queues the PIN-reset email.
package.path = package.path .. ";" .. (debug.getinfo(1, "S").source:match("@(.*/)") or "./") .. "?.lua"
require "report"

expected_status = 200
local users = tonumber(os.getenv("PB_USERS"))
local headers = { ["Authorization"] = "Bearer " .. os.getenv("PB_TOKEN") }

function init(args)
   next_user = 0
end

function request()
   local path = string.format("/api/v1/users/user%06d@contoso.example/reset-pin", next_user)
   next_user = (next_user + 1) % users
   return wrk.format("POST", path, headers, "")
end

function response(status, headers, body)
   count_unexpected(status)
end
