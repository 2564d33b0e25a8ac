#!/usr/bin/env python3
"""Starts and stops the local canary stack: two backends and an nginx in front.

  localstack.py up DIR NGINX_PORT STABLE_PORT CANARY_PORT VERSION
      stable backend (v1) on STABLE_PORT unless one already listens there;
      the new VERSION on CANARY_PORT (restarted); nginx on NGINX_PORT with
      DIR/upstream.conf (all traffic to stable at first) unless it runs.
  localstack.py share URL N
      sends N requests to URL and prints each version's share, e.g.
      "v1=75% v2=25%".
  localstack.py down DIR
      stops what `up` started.

Everything runs on 127.0.0.1 and lives in DIR (pids, logs, nginx prefix).
reload.sh (beside this file) reloads that nginx and waits for its new workers.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def listening(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_port(port, up=True, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        if listening(port) == up:
            return
        time.sleep(0.05)
    raise SystemExit(f"localstack: port {port} did not {'open' if up else 'close'} in {seconds}s")


def kill_pidfile(path):
    try:
        pid = int(open(path).read().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass
    try:
        os.unlink(path)
    except OSError:
        pass


def start_backend(d, port, version, name):
    log = open(os.path.join(d, f"{name}.log"), "ab")
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "backend.py"), str(port), version],
                         stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    open(os.path.join(d, f"{name}.pid"), "w").write(str(p.pid))
    wait_port(port)


def nginx_args(d):
    return ["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e", os.path.join(d, "error.log")]


def up(d, nginx_port, stable_port, canary_port, version):
    os.makedirs(d, exist_ok=True)
    d = os.path.abspath(d)
    if not listening(stable_port):
        start_backend(d, stable_port, "v1", "stable")
    kill_pidfile(os.path.join(d, "canary.pid"))
    wait_port(canary_port, up=False)
    start_backend(d, canary_port, version, "canary")
    if not os.path.exists(os.path.join(d, "nginx.pid")) or not listening(nginx_port):
        with open(os.path.join(d, "upstream.conf"), "w") as f:
            f.write(f"upstream app {{\n    server 127.0.0.1:{stable_port};\n}}\n")
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp-body;
    proxy_temp_path {d}/tmp-proxy;
    fastcgi_temp_path {d}/tmp-fastcgi;
    uwsgi_temp_path {d}/tmp-uwsgi;
    scgi_temp_path {d}/tmp-scgi;
    include {d}/upstream.conf;
    server {{
        listen 127.0.0.1:{nginx_port};
        location / {{ proxy_pass http://app; }}
    }}
}}
""")
        subprocess.run(nginx_args(d), check=True)
        wait_port(nginx_port)
    print(f"stack up: nginx :{nginx_port} -> stable v1 :{stable_port}, canary {version} :{canary_port}")


def share(url, n):
    counts = {}
    for _ in range(n):
        v = urllib.request.urlopen(url, timeout=5).read().decode().strip()
        counts[v] = counts.get(v, 0) + 1
    print(" ".join(f"{v}={100 * c // n}%" for v, c in sorted(counts.items())))


def down(d):
    d = os.path.abspath(d)
    if os.path.exists(os.path.join(d, "nginx.pid")):
        subprocess.run(nginx_args(d) + ["-s", "quit"], check=False)
    for name in ("canary", "stable"):
        kill_pidfile(os.path.join(d, f"{name}.pid"))


def main():
    cmd = sys.argv[1]
    if cmd == "up":
        up(sys.argv[2], *map(int, sys.argv[3:6]), sys.argv[6])
    elif cmd == "share":
        share(sys.argv[2], int(sys.argv[3]))
    elif cmd == "down":
        down(sys.argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
