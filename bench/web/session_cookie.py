#!/usr/bin/python3
"""Signs in to a running pinbridge through its sign-in form, as a browser does, and
prints the value of the session cookie (pb_session).

    session_cookie.py --base http://127.0.0.1:8080 --upn admin@contoso.example \
        --password-file FILE [--signin-form]

GET /signin gives a pre-session cookie and the form's CSRF token; the POST carries
both, with the browser's same-origin headers, and is answered 303 with the session
cookie. With --signin-form it does not sign in but prints the pre-session cookie's
value and the urlencoded form on two lines, for a load generator to post.
"""

import argparse
import http.client
import re
import sys
import urllib.parse


def cookie(response, name):
    for header, value in response.getheaders():
        if header.lower() == "set-cookie" and value.startswith(name + "="):
            return value.split(";", 1)[0].split("=", 1)[1]
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--upn", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--signin-form", action="store_true")
    args = parser.parse_args()
    with open(args.password_file, encoding="utf-8") as f:
        password = f.readline().rstrip("\r\n")
    url = urllib.parse.urlsplit(args.base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request("GET", "/signin")
    page = conn.getresponse()
    html = page.read().decode()
    presession = cookie(page, "pb_presession")
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    if presession is None or csrf is None:
        sys.exit("no pre-session cookie or CSRF token on /signin")
    form = urllib.parse.urlencode(
        {"csrf": csrf.group(1), "upn": args.upn, "password": password, "next": ""})
    if args.signin_form:
        print(presession)
        print(form)
        return
    conn.request("POST", "/signin", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"pb_presession={presession}",
        "Origin": args.base.rstrip("/"),
        "Sec-Fetch-Site": "same-origin",
    })
    reply = conn.getresponse()
    reply.read()
    session = cookie(reply, "pb_session")
    if reply.status != 303 or session is None:
        sys.exit(f"sign-in failed: {reply.status}")
    print(session)


if __name__ == "__main__":
    main()
