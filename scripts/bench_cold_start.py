"""`make bench-cold-start`: each function's release binary started against a fake Lambda
Runtime API (the 2018-06-01 interface Lambda gives a custom runtime) that serves it N
events, with its store, queues and secrets on moto and Telegram on the fake Bot API, as
scripts/bench-cold-start.sh sets them up. Per function, the median over RUNS cold starts:

  init     process start -> its first GET /next (all of main: config, secrets, clients),
           timed as start -> exit with the Runtime API address refusing, so this Python
           server's own scheduling is not in it
  first    the first invocation: /next answered -> its response posted
  waits    of that, the time spent waiting on its own round trips: moto (DynamoDB, SQS,
           Secrets Manager) and the fake Bot API are reached through timing proxies, and
           a round trip runs from the connection's open (or the request's first byte) to
           the response's last byte; concurrent ones count once
  cold     init + first - waits: what a cold start costs beyond the first invocation's own
           round trips, the secret reads of init included (target <= 20 ms on this machine,
           for the median; cold p90 shows the spread over the runs)
  init own, cold own
           the same less init's own waits (its secret reads from Secrets Manager on moto):
           our code's share alone
  warm     p50 / p99 of the later invocations, and the p50 of their own time (less waits)
  rss      peak resident memory (VmHWM) after the last invocation (target <= 16 MiB)

It also checks what CloudWatch would get: one ColdStart EMF line per process, with the
Function and Stack dimensions. Exits non-zero when a function fails an invocation or a
target, so the figures in docs/proof.md stay true."""

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVENTS = os.path.join(ROOT, "events")
RUNS = int(os.environ.get("RUNS", "5"))
INVOCATIONS = int(os.environ.get("INVOCATIONS", "40"))
COLD_TARGET_MS = 20.0
RSS_TARGET_KIB = 16 * 1024


def load(name):
    with open(os.path.join(EVENTS, name)) as f:
        return json.load(f)


def bot_updates(n):
    """/start from one buyer, each a new update (a redelivery would be answered from
    its once-record)."""
    event = load("bot-webhook-start.json")
    out = []
    for i in range(n):
        body = json.loads(event["body"])
        body["update_id"] = 900_000_001 + i
        body["message"]["message_id"] = i + 1
        out.append({**event, "body": json.dumps(body)})
    return out


def lifecycle_batch():
    body = {"v": 1, "user_id": 6271402111, "channel_id": -1003111266231,
            "task": "end_notice", "for_expiry": "2026-01-01T00:00:00Z"}
    record = load("payment-processor-batch.json")["Records"][0]
    record = {**record, "body": json.dumps(body),
              "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:telepay-lifecycle"}
    return {"Records": [record]}


# The functions in the order a payment meets them (the processor grants the subscription
# the lifecycle event then finds).
FUNCTIONS = [
    ("np-webhook", lambda n: [load("np-webhook-finished.json")] * n),
    ("payment-processor", lambda n: [load("payment-processor-batch.json")] * n),
    ("invite-sender", lambda n: [load("invite-sender-batch.json")] * n),
    ("reconciler", lambda n: [load("reconciler-schedule.json")] * n),
    ("subscription-sweeper", lambda n: [load("subscription-sweeper-schedule.json")] * n),
    ("subscription-lifecycle", lambda n: [lifecycle_batch()] * n),
    ("bot-webhook", bot_updates),
    ("admission-recheck", lambda n: [load("admission-recheck-batch.json")] * n),
]


class TimingProxy:
    """A TCP relay in front of one backend that records when each round trip through it
    began and ended (monotonic seconds), so an invocation's own waits can be told from
    its own work."""

    def __init__(self, upstream_url, trips):
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname, parts.port)
        self.trips = trips
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"{parts.scheme}://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.listener.accept()
            opened = time.monotonic()
            threading.Thread(target=self.relay, args=(client, opened), daemon=True).start()

    def relay(self, client, opened):
        upstream = socket.create_connection(self.upstream)
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # One round trip: from the connection's open or the request's first byte to the
        # response's last byte seen before the next request.
        trip = {"start": opened, "end": None}
        lock = threading.Lock()

        def requests():
            while data := client.recv(65536):
                with lock:
                    if trip["end"] is not None:
                        self.trips.append((trip["start"], trip["end"]))
                        trip["start"], trip["end"] = time.monotonic(), None
                upstream.sendall(data)
            upstream.shutdown(socket.SHUT_WR)

        threading.Thread(target=requests, daemon=True).start()
        try:
            while data := upstream.recv(65536):
                client.sendall(data)
                with lock:
                    trip["end"] = time.monotonic()
        except OSError:
            pass
        with lock:
            if trip["end"] is not None:
                self.trips.append((trip["start"], trip["end"]))
        client.close()
        upstream.close()


# The backends a function reaches, each behind a timing proxy.
BACKEND_VARIABLES = ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS",
                     "AWS_ENDPOINT_URL_SECRETS_MANAGER", "TELEGRAM_API_URL"]


def waited_ms(trips, start, end):
    """The time within [start, end] when at least one round trip was open."""
    spans = sorted((max(a, start), min(b, end)) for a, b in trips if b > start and a < end)
    total, reach = 0.0, start
    for a, b in spans:
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total * 1000


class RuntimeApi:
    """One function process's Runtime API: hands out its events in order, timestamps
    every step, and holds the last /next open (as Lambda does between invocations)."""

    def __init__(self, events):
        self.events = list(events)
        self.served = {}
        self.answered = {}
        self.failed = []
        self.first_next = None
        self.done = threading.Event()
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                now = time.monotonic()
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404)
                with api.lock:
                    if api.first_next is None:
                        api.first_next = now
                    event = api.events.pop(0) if api.events else None
                if event is None:
                    api.done.wait()
                    return self.reply(410)
                request_id = str(uuid.uuid4())
                body = json.dumps(event).encode()
                deadline = int(time.time() * 1000) + 60_000
                api.served[request_id] = time.monotonic()
                self.reply(200, body, [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", request_id),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    ("Lambda-Runtime-Invoked-Function-Arn",
                     "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
                ])

            def do_POST(self):
                now = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = self.path.split("/")
                if "invocation" in parts:
                    request_id = parts[parts.index("invocation") + 1]
                    api.answered[request_id] = now
                    if parts[-1] == "error":
                        api.failed.append(body.decode(errors="replace")[:300])
                    return self.reply(202, b"{}")
                # init/error: the process could not start.
                api.failed.append("init error: " + body.decode(errors="replace")[:300])
                api.done.set()
                return self.reply(202, b"{}")

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A process killed at the end of its run drops the /next it held open.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    def windows(self):
        """Each answered invocation's (served, answered), in order."""
        ordered = sorted(self.served.items(), key=lambda item: item[1])
        return [(t, self.answered[rid]) for rid, t in ordered if rid in self.answered]


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# The secrets each function is given in template.yaml (the others' ARNs are not passed).
SECRETS = {
    "np-webhook": ["TELEPAY_IPN_SECRET_ARN"],
    "payment-processor": ["TELEPAY_IPN_SECRET_ARN", "TELEGRAM_BOT_TOKEN_SECRET_ARN"],
    "invite-sender": ["TELEGRAM_BOT_TOKEN_SECRET_ARN"],
    "subscription-lifecycle": ["TELEGRAM_BOT_TOKEN_SECRET_ARN"],
    "admission-recheck": ["TELEGRAM_BOT_TOKEN_SECRET_ARN"],
    "bot-webhook": ["TELEGRAM_BOT_TOKEN_SECRET_ARN", "TELEPAY_BOT_WEBHOOK_SECRET_ARN",
                    "TELEPAY_NOWPAYMENTS_API_KEY_ARN"],
}


def function_env(env, function, runtime_api):
    """What Lambda gives the function: its own secrets' ARNs only (as template.yaml), and
    the runtime's variables."""
    env = {key: value for key, value in env.items()
           if not key.endswith("_ARN") or key in SECRETS.get(function, [])}
    return {**env,
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "AWS_LAMBDA_FUNCTION_NAME": f"bench-{function}",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/bench-{function}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "TELEPAY_STACK_NAME": "bench-stack"}


def run_once(binary, function, events, env):
    api = RuntimeApi(events)
    trips = []
    env = proxied(function_env(env, function, api.address), trips)
    started = time.monotonic()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    output = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while len(api.answered) < len(events) and not api.failed and time.monotonic() < deadline:
        if process.poll() is not None:
            api.failed.append(f"exited with {process.returncode}")
            break
        time.sleep(0.002)
    rss = peak_rss_kib(process.pid) if process.poll() is None else 0
    process.kill()
    process.wait()
    api.done.set()
    api.server.shutdown()
    reader.join(timeout=5)
    if api.failed or len(api.answered) < len(events):
        raise SystemExit(f"{function}: {api.failed or 'invocations unanswered'}")
    windows = api.windows()
    durations = [(end - start) * 1000 for start, end in windows]
    waits = [waited_ms(list(trips), start, end) for start, end in windows]
    cold_lines = [json.loads(line) for line in output
                  if line.startswith(b"{") and b'"ColdStart"' in line]
    return {
        "init": (api.first_next - started) * 1000,
        "first": durations[0],
        "first_waits": waits[0],
        "warm": durations[1:],
        "warm_own": [d - w for d, w in zip(durations[1:], waits[1:])],
        "rss": rss,
        "cold_start_lines": cold_lines,
    }


def proxied(env, trips):
    """`env` with each backend behind a timing proxy that records into `trips`."""
    env = dict(env)
    proxies = {}
    for variable in BACKEND_VARIABLES:
        url = env.get(variable)
        if url:
            # One proxy per backend address (SQS and Secrets Manager share moto's).
            proxies.setdefault(url, TimingProxy(url, trips))
            env[variable] = proxies[url].url
    return env


def init_alone(binary, function, env):
    """Start -> exit of a process whose first GET /next is refused: its whole init, and
    of that the time spent waiting on its secret reads."""
    trips = []
    env = proxied(function_env(env, function, "127.0.0.1:9"), trips)
    started = time.monotonic()
    subprocess.run([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ended = time.monotonic()
    return (ended - started) * 1000, waited_ms(list(trips), started, ended)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    target = sys.argv[1]
    env = dict(os.environ)
    failures = []
    only = set(sys.argv[2:])
    print(f"{'function':24} {'init':>7} {'init own':>8} {'first':>7} {'waits':>7} {'cold':>7} "
          f"{'cold p90':>8} {'cold own':>8} {'warm p50':>9} {'warm p99':>9} {'own p50':>8} {'rss MiB':>8}")
    for function, make_events in FUNCTIONS:
        if only and function not in only:
            continue
        binary = os.path.join(target, function)
        runs = [run_once(binary, function, make_events(INVOCATIONS), env) for _ in range(RUNS)]
        inits = [init_alone(binary, function, env) for _ in range(RUNS)]
        init = statistics.median(total for total, _ in inits)
        init_own = statistics.median(total - waits for total, waits in inits)
        first = statistics.median(r["first"] for r in runs)
        # The cold figure per run (its first less its own waits), then the median.
        first_owns = [r["first"] - r["first_waits"] for r in runs]
        first_own = statistics.median(first_owns)
        waits = first - first_own
        warm = [d for r in runs for d in r["warm"]]
        own = [d for r in runs for d in r["warm_own"]]
        p50, p99, own50 = percentile(warm, 50), percentile(warm, 99), percentile(own, 50)
        rss = max(r["rss"] for r in runs)
        cold = init + first_own
        # The spread: each run's cold start (its init, timed alone, paired by order).
        cold_p90 = percentile([total + own for (total, _), own in zip(inits, first_owns)], 90)
        print(f"{function:24} {init:7.1f} {init_own:8.1f} {first:7.1f} {waits:7.1f} {cold:7.1f} "
              f"{cold_p90:8.1f} {init_own + first_own:8.1f} {p50:9.2f} {p99:9.2f} {own50:8.2f} {rss / 1024:8.1f}")
        for r in runs:
            lines = r["cold_start_lines"]
            if len(lines) != 1 or lines[0].get("Function") != f"bench-{function}" \
                    or lines[0].get("Stack") != "bench-stack" or lines[0].get("ColdStart") != 1:
                failures.append(f"{function}: expected one ColdStart EMF line, got {lines}")
                break
        if cold > COLD_TARGET_MS:
            failures.append(f"{function}: cold start {cold:.1f} ms > {COLD_TARGET_MS} ms")
        if rss > RSS_TARGET_KIB:
            failures.append(f"{function}: peak RSS {rss / 1024:.1f} MiB > 16 MiB")
    print(f"(ms; median of {RUNS} cold starts, {INVOCATIONS} invocations each; "
          f"cold = init + first - the first's own round-trip waits)")
    for failure in failures:
        print("FAILED:", failure, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
