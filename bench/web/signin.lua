-- wrk: the sign-in form posted again and again, as a browser posts it. PB_PRESESSION is
-- a pre-session cookie and PB_SIGNIN_FORM the urlencoded form (with that cookie's CSRF
-- token), both from `session_cookie.py --signin-form`; PB_ORIGIN is the server's origin.
-- Each answer is 303 with a new session: one Argon2id verification per request.
package.path = package.path .. ";" .. (debug.getinfo(1, "S").source:match("@(.*/)") or "./") .. "?.lua"
require "report"

expected_status = 303
wrk.method = "POST"
wrk.body = os.getenv("PB_SIGNIN_FORM")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "pb_presession=" .. os.getenv("PB_PRESESSION")
wrk.headers["Origin"] = os.getenv("PB_ORIGIN")
wrk.headers["Sec-Fetch-Site"] = "same-origin"

function response(status, headers, body)
   count_unexpected(status)
end
