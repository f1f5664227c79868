#!/usr/bin/python3
"""Adds users to a running pinbridge through its REST API (POST /api/v1/users), the
way automation would, so every user gets its search terms and audit line exactly as
the product writes them.

    seed_users.py --base http://127.0.0.1:8080 --token pb_... --count 100000

Users are user000000@contoso.example ... with display names "<First> <Last> <n>"
from ten first and ten last names (so "lovelace" matches 10,000 users and
"ada lovelace" 1,000), and a mailbox at their UPN. One keep-alive connection, one
request at a time; prints progress and the rate every 10,000 users.
"""

import argparse
import http.client
import json
import sys
import time
import urllib.parse

FIRST = ["Ada", "Ben", "Chloé", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
LAST = ["Lovelace", "Okafor", "Nakamura", "Schmidt", "Rossi", "Haddad", "Kowalski", "Silva",
        "Berg", "Dubois"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--start", type=int, default=0)
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    started = time.monotonic()
    for n in range(args.start, args.start + args.count):
        upn = f"user{n:06}@contoso.example"
        body = json.dumps({
            "upn": upn,
            "display_name": f"{FIRST[n % 10]} {LAST[(n // 10) % 10]} {n}",
            "primary_smtp_address": upn,
        })
        conn.request("POST", "/api/v1/users", body=body, headers=headers)
        response = conn.getresponse()
        text = response.read()
        if response.status not in (201, 409):
            sys.exit(f"POST /api/v1/users for {upn}: {response.status} {text!r}")
        done = n - args.start + 1
        if done % 10_000 == 0:
            elapsed = time.monotonic() - started
            print(f"{done} users in {elapsed:.0f} s ({done / elapsed:.0f}/s)", flush=True)
    conn.close()


if __name__ == "__main__":
    main()
