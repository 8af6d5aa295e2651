#!/usr/bin/env python3
"""A webhook receiver for scripts/bench.sh: answers every POST with 200 at once and records,
for each webhook-id seen first, when it arrived and when its event happened (the body's
`timestamp`). `GET /stats[?window=S]` answers the count, the span of arrivals, the rate in
their first S seconds and the delay percentiles; `POST /reset` clears. One process, asyncio, HTTP/1.1 keep-alive. Usage: receiver.py PORTFILE
(writes the port it listens on there)."""
import asyncio
import json
import sys
import time
from datetime import datetime

seen = {}  # webhook-id -> (arrival, delay)
requests = 0


def stats(window=None):
    arrivals = sorted(a for a, _ in seen.values())
    delays = sorted(d for _, d in seen.values())

    def pct(p):
        if not delays:
            return None
        return round(delays[min(len(delays) - 1, int(len(delays) * p))] * 1000, 1)

    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0
    return {
        "distinct": len(seen),
        "requests": requests,
        "span_s": round(span, 3),
        "rate": round((len(arrivals) - 1) / span) if span > 0 else None,
        # While the load ran: arrivals in its first `window` seconds (a backlog drains after).
        "rate_in_window": round(sum(1 for a in arrivals if a < arrivals[0] + window) / window)
        if window and arrivals else None,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
    }


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        self.buf = b""

    def data_received(self, data):
        global requests
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            method, path = head[0].split(" ")[:2]
            out = b""
            if method == "GET" and path.startswith("/stats"):
                window = path.partition("window=")[2]
                out = json.dumps(stats(float(window) if window else None)).encode()
            elif method == "POST" and path == "/reset":
                seen.clear()
                requests = 0
            else:
                requests += 1
                now = time.time()
                wid = headers.get("webhook-id", "")
                if wid not in seen:
                    ts = json.loads(body)["timestamp"]
                    at = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
                    seen[wid] = (now, now - at)
            self.t.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/json\r\n\r\n%s" % (len(out), out))


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    with open(sys.argv[1], "w") as f:
        f.write(f"{port}\n")
    async with server:
        await server.serve_forever()


asyncio.run(main())
