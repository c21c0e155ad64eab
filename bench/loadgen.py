"""Load generators for the benchmarks: wrk with a Lua script that sends precomputed signed requests (closed
loop, throughput), and an asyncio open-loop client at a fixed rate whose latency counts from each request's
scheduled send time (no coordinated omission). Bounded in count and time; loopback only."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

WRK_SCRIPT = r"""
-- Each wrk thread reads its own file of precomputed signed requests ("signature<TAB>body" per line) and sends
-- each once; when a file runs out it wraps (counted, reported: re-deliveries are cheaper than new texts).
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local prefix, path = args[1], args[2]
  requests_ = {}
  wrapped = 0
  index = 0
  local f = assert(io.open(prefix .. tid .. ".txt", "r"))
  for line in f:lines() do
    local tab = line:find("\t", 1, true)
    local headers = {}
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["X-Twilio-Signature"] = line:sub(1, tab - 1)
    headers["X-Forwarded-Proto"] = "https"
    requests_[#requests_ + 1] = wrk.format("POST", path, headers, line:sub(tab + 1))
  end
  f:close()
end

function request()
  index = index + 1
  if index > #requests_ then
    index = 1
    wrapped = wrapped + 1
  end
  return requests_[index]
end

function done(summary, latency, requests)
  local wrapped_total = 0
  for _, thread in ipairs(threads) do wrapped_total = wrapped_total + thread:get("wrapped") end
  io.write("WRK_JSON ")
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "status_errors": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, "wrapped": %d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(99), latency.max,
    wrapped_total))
end
"""


@dataclass
class Throughput:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    wrapped: int


def wrk_run(
    *, port: int, path: str, items: list[tuple[str, str]], workdir: Path, tag: str, connections: int, duration: int
) -> Throughput:
    threads = 2
    per_thread = len(items) // threads
    prefix = workdir / f"{tag}-t"
    for t in range(threads):
        with open(f"{prefix}{t}.txt", "w") as f:
            for signature, body in items[t * per_thread : (t + 1) * per_thread]:
                f.write(f"{signature}\t{body}\n")
    script = workdir / "signed.lua"
    script.write_text(WRK_SCRIPT)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        "--",
        str(prefix),
        path,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 60).stdout  # noqa: S603 - our own fixed commands
    data = json.loads(next(li for li in out.splitlines() if li.startswith("WRK_JSON ")).split(" ", 1)[1])
    errors = sum(data[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts"))
    return Throughput(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        errors=errors,
        wrapped=data["wrapped"],
    )


# --- phase 2: open loop at a fixed rate --------------------------------------------------------------------------
@dataclass
class Latency:
    sent: int
    ok: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    achieved_rps: float


def http_request(path: str, signature: str, body: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\nX-Forwarded-Proto: https\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            close = True
    if length:
        await reader.readexactly(length)
    return status, close


async def open_loop(*, port: int, path: str, items: list[tuple[str, str]], rate: float, duration: float) -> Latency:
    loop = asyncio.get_running_loop()
    count = int(rate * duration)
    payloads = [http_request(path, s, b) for s, b in items[:count]]
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(32):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    statuses: list[int] = []
    start = loop.time() + 0.5

    async def one(i: int) -> None:
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        for _attempt in range(3):
            reader, writer = await pool.get()
            try:
                writer.write(payloads[i])
                await writer.drain()
                status, close = await _read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
                continue
            if close:
                writer.close()
                pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
            else:
                pool.put_nowait((reader, writer))
            latencies.append(loop.time() - scheduled)
            statuses.append(status)
            return
        statuses.append(0)

    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = loop.time() - start
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    ordered = sorted(latencies)
    return Latency(
        sent=count,
        ok=sum(1 for s in statuses if s == 200),
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        max_ms=ordered[-1] * 1000,
        achieved_rps=count / elapsed,
    )


# --- the run -----------------------------------------------------------------------------------------------------
