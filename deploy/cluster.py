"""A usagebook cluster on one machine: every host in its own network namespace.

    python3 deploy/cluster.py up | status | kill NAME... | start NAME... | down

Hosts (each a namespace `ubc-<name>` joined to the bridge `ubbr0`, 10.88.0.0/24):
  lb        HAProxy on :8000, balancing the three app hosts (health check /readyz)
  app1-3    `usagebook serve`, sharing PostgreSQL, Redis and one cursor secret
  pg1, pg2  PostgreSQL 15 kept by pg_auto_failover (one primary, one synchronous standby)
  monitor   pg_auto_failover's monitor, which decides and orchestrates failover
  redis     Redis (rate limits, the analytics cache, key revocations)

The root namespace reaches every host through the bridge (10.88.0.1), so the URL printed is
usable from where the script ran. `kill NAME` SIGKILLs every process of the host at once and
keeps its namespace (a machine losing power); `start NAME` runs them again (a former primary
rejoins as the standby through pg_auto_failover). Only the Python standard library is used, so
the script runs with the system interpreter; usagebook itself runs from the checkout's `.venv`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("USAGEBOOK_CLUSTER_DIR", "/tmp/usagebook-cluster"))
VENV_BIN = ROOT / ".venv" / "bin"
BRIDGE, SUBNET, GATEWAY = "ubbr0", "10.88.0", "10.88.0.1"
PG_BIN = "/usr/lib/postgresql/15/bin"
DBNAME = "usagebook"


@dataclass(frozen=True)
class Host:
    name: str
    role: str  # app | lb | pg | redis | monitor (pg hosts report pg-primary / pg-standby)
    addr: str
    port: int

    @property
    def netns(self) -> str:
        return f"ubc-{self.name}"


HOSTS = [
    Host("lb", "lb", f"{SUBNET}.10", 8000),
    Host("app1", "app", f"{SUBNET}.21", 8000),
    Host("app2", "app", f"{SUBNET}.22", 8000),
    Host("app3", "app", f"{SUBNET}.23", 8000),
    # Distinct ports and socket folders: no Unix socket can collide with another instance's.
    Host("pg1", "pg", f"{SUBNET}.31", 5441),
    Host("pg2", "pg", f"{SUBNET}.32", 5442),
    Host("monitor", "monitor", f"{SUBNET}.40", 5440),
    Host("redis", "redis", f"{SUBNET}.50", 6379),
]
BY_NAME = {host.name: host for host in HOSTS}
PG_HOSTS = [BY_NAME["pg1"], BY_NAME["pg2"]]


def sh(*args: str, check: bool = True, capture: bool = False) -> str:
    done = subprocess.run(args, check=False, text=True,
                          stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    if check and done.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout if capture else ""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- network -----------------------------------------------------------------------------------

def make_network() -> None:
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for host in HOSTS:
        if Path(f"/run/netns/{host.netns}").exists():
            continue
        veth = f"ubv-{host.name}"
        sh("ip", "netns", "add", host.netns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        sh("ip", "link", "set", veth, "master", BRIDGE, "up")
        run_in = ("ip", "netns", "exec", host.netns)
        sh(*run_in, "ip", "link", "set", "lo", "up")
        sh(*run_in, "ip", "addr", "add", f"{host.addr}/24", "dev", "eth0")
        sh(*run_in, "ip", "link", "set", "eth0", "up")
        sh(*run_in, "ip", "route", "add", "default", "via", GATEWAY)


def remove_network() -> None:
    for host in HOSTS:
        kill_host(host)
        sh("ip", "netns", "del", host.netns, check=False)
        sh("ip", "link", "del", f"ubv-{host.name}", check=False)
    sh("ip", "link", "del", BRIDGE, check=False)


# --- processes ---------------------------------------------------------------------------------

def spawn(host: Host, argv: list[str], env: dict[str, str] | None = None,
          user: str | None = None) -> None:
    """Start a host's process detached, in its namespace, logging to STATE/<name>.log."""
    prefix = ["ip", "netns", "exec", host.netns]
    if user:
        prefix += ["runuser", "-u", user, "--"]
    full_env = {"PATH": f"{PG_BIN}:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                **(env or {})}
    with open(STATE / f"{host.name}.log", "ab") as out:
        subprocess.Popen([*prefix, "env", *[f"{k}={v}" for k, v in full_env.items()], *argv],
                         stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                         start_new_session=True, env=full_env)


def host_pids(host: Host) -> list[int]:
    if not Path(f"/run/netns/{host.netns}").exists():
        return []
    out = sh("ip", "netns", "pids", host.netns, check=False, capture=True)
    return [int(pid) for pid in out.split()]


def kill_host(host: Host) -> None:
    """SIGKILL every process of the host at once, as a power loss would, and wait until their
    PIDs are free: a program started again at once (pg_autoctl, postgres) reads its old pidfile
    and refuses to start while that PID still exists, even as an unreaped zombie."""
    killed: set[int] = set()
    for _ in range(3):  # children forked while we were killing get the next round
        pids = host_pids(host)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.2)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in killed) and time.monotonic() < deadline:
        time.sleep(0.1)


def port_open(addr: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((addr, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(what: str, check: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise SystemExit(f"FAILED: {what} did not come up within {seconds:.0f} s (logs in {STATE})")


# --- the services ------------------------------------------------------------------------------

def pg_dir(host: Host) -> Path:
    return STATE / host.name


def monitor_uri() -> str:
    monitor = BY_NAME["monitor"]
    return (f"postgres://autoctl_node@{monitor.addr}:{monitor.port}/pg_auto_failover"
            "?sslmode=disable")


def pg_env(host: Host) -> dict[str, str]:
    # pg_autoctl puts the server's Unix socket where PG_REGRESS_SOCK_DIR says; PGHOST makes its
    # own libpq connections look there too.
    return {"PG_REGRESS_SOCK_DIR": str(pg_dir(host)), "PGHOST": str(pg_dir(host)),
            "HOME": str(pg_dir(host)),
            "XDG_CONFIG_HOME": str(pg_dir(host) / "config"),
            "XDG_DATA_HOME": str(pg_dir(host) / "share")}


def start_monitor(host: Host) -> None:
    data = pg_dir(host) / "data"
    if (data / "PG_VERSION").exists():
        spawn(host, ["pg_autoctl", "run", "--pgdata", str(data)], pg_env(host), "postgres")
    else:
        spawn(host, ["pg_autoctl", "create", "monitor", "--pgdata", str(data),
                     "--pgport", str(host.port), "--hostname", host.addr, "--auth", "trust",
                     "--no-ssl", "--run"], pg_env(host), "postgres")


def tune_monitor() -> None:
    """Detect a dead primary in seconds instead of pg_auto_failover's default ~30 s."""
    settings = {
        "pgautofailover.health_check_period": "1000",
        "pgautofailover.health_check_timeout": "1000",
        "pgautofailover.health_check_max_retries": "1",
        "pgautofailover.health_check_retry_delay": "500",
        "pgautofailover.node_considered_unhealthy_timeout": "4000",
        "pgautofailover.primary_demote_timeout": "10000",
    }
    for name, value in settings.items():  # ALTER SYSTEM refuses to run in a transaction block
        psql(BY_NAME["monitor"], "postgres", f"ALTER SYSTEM SET {name} = '{value}'")
    psql(BY_NAME["monitor"], "postgres", "SELECT pg_reload_conf()")


def start_pg(host: Host) -> None:
    data = pg_dir(host) / "data"
    if (data / "PG_VERSION").exists():
        spawn(host, ["pg_autoctl", "run", "--pgdata", str(data)], pg_env(host), "postgres")
        return
    spawn(host, ["pg_autoctl", "create", "postgres", "--pgdata", str(data),
                 "--pgport", str(host.port), "--hostname", host.addr, "--name", host.name,
                 "--dbname", DBNAME, "--monitor", monitor_uri(), "--auth", "trust",
                 "--no-ssl", "--pg-hba-lan", "--run"], pg_env(host), "postgres")


def psql(host: Host, dbname: str, sql: str) -> str:
    return sh("runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-At", "-h", str(pg_dir(host)),
              "-p", str(host.port), "-d", dbname, "-c", sql, capture=True)


def allow_lan(host: Host) -> None:
    """Let the app hosts in (any database user from the cluster's subnet, trust as in tests)."""
    hba = pg_dir(host) / "data" / "pg_hba.conf"
    rule = f"host all all {SUBNET}.0/24 trust\n"
    if rule not in hba.read_text():
        with hba.open("a") as out:
            out.write(rule)
        psql(host, "postgres", "SELECT pg_reload_conf();")


def node_states(reached: bool = False) -> dict[str, str]:
    """pg node name -> the state the monitor assigned it (its goal: what the monitor decided,
    which the node's own report follows a moment later); with `reached`, only nodes that report
    having reached their goal. Empty when the monitor is down."""
    try:
        out = psql(BY_NAME["monitor"], "pg_auto_failover",
                   "SELECT nodename, goalstate, reportedstate FROM pgautofailover.node")
    except SystemExit:
        return {}
    rows = [line.split("|") for line in out.splitlines() if line.count("|") == 2]
    return {name: goal for name, goal, reported in rows if not reached or goal == reported}


# A node assigned one of these is the one that takes writes (`wait_primary`: its standby is
# missing, so it commits alone until one is back).
PRIMARY_STATES = {"single", "primary", "wait_primary", "join_primary", "apply_settings"}


def current_primary() -> str | None:
    for name, state in node_states().items():
        if state in PRIMARY_STATES:
            return name
    return None


def database_url() -> str:
    hosts = "&".join(f"host={h.addr}:{h.port}" for h in PG_HOSTS)
    return f"postgresql://postgres@/{DBNAME}?{hosts}&target_session_attrs=read-write"


def app_env(config: dict[str, str]) -> dict[str, str]:
    redis = BY_NAME["redis"]
    return {
        # This checkout's code, whichever checkout the shared `.venv` was installed from.
        "PYTHONPATH": str(ROOT),
        "USAGEBOOK_DATABASE_URL": database_url(),
        "USAGEBOOK_REDIS_URL": f"redis://{redis.addr}:{redis.port}/0",
        "USAGEBOOK_SECRET_KEY": config["secretKey"],
        "USAGEBOOK_OPERATOR_TOKEN": config["operatorToken"],
        # One account's drill load (readers poll every 50 ms) is far above the default 1,200
        # requests a minute per key; the limit stays on, shared through Redis, just higher.
        "USAGEBOOK_RATE_LIMIT_PER_MINUTE": "60000",
    }


# An app host runs `serve` as deploy/systemd/usagebook.service does: Restart=always,
# RestartSec=2, never giving up (StartLimitIntervalSec=0). A host started while PostgreSQL is
# still down exits (its migration cannot reach the database) and is simply started again 2 s
# later, as systemd would. The loop is a process of the host's namespace, so `kill NAME` takes
# it down with `serve` (power loss: nothing comes back until `start NAME`).
SUPERVISE = """
while :; do
    "$@"
    echo "supervisor: serve exited with status $?; restarting in 2 s" >&2
    sleep 2
done
"""


def start_app(host: Host, config: dict[str, str]) -> None:
    spawn(host, ["sh", "-c", SUPERVISE, "supervise", str(VENV_BIN / "usagebook"), "serve",
                 "--host", host.addr, "--port", str(host.port)], app_env(config))


def write_haproxy_config() -> Path:
    apps = "\n".join(f"    server {h.name} {h.addr}:{h.port} check"
                     for h in HOSTS if h.role == "app")
    lb = BY_NAME["lb"]
    path = STATE / "haproxy.cfg"
    path.write_text((ROOT / "deploy" / "haproxy.cfg.template").read_text()
                    .replace("{{BIND}}", f"{lb.addr}:{lb.port}").replace("{{SERVERS}}", apps))
    return path


def start_host(host: Host, config: dict[str, str]) -> None:
    if host_pids(host):
        return
    if host.role == "lb":
        spawn(host, ["haproxy", "-W", "-db", "-f", str(write_haproxy_config())])
    elif host.role == "app":
        start_app(host, config)
    elif host.role == "pg":
        wait_for("the monitor (a keeper needs it to start)", _monitor_ready, 120)
        start_pg(host)
    elif host.role == "monitor":
        start_monitor(host)
    elif host.role == "redis":
        spawn(host, ["redis-server", "--bind", host.addr, "--port", str(host.port),
                     "--save", "", "--appendonly", "no", "--protected-mode", "no"])


def wait_host(host: Host, seconds: float = 60) -> None:
    if host.role == "app":
        wait_for(host.name, lambda: http_ok(f"http://{host.addr}:{host.port}/readyz"), seconds)
    else:
        wait_for(host.name, lambda: port_open(host.addr, host.port), seconds)


def http_ok(url: str) -> bool:
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:  # our own hosts
            return bool(answer.status == 200)
    except OSError:
        return False


# --- commands ----------------------------------------------------------------------------------

def load_config() -> dict[str, str]:
    path = STATE / "cluster.json"
    return json.loads(path.read_text()) if path.exists() else {}


def status() -> dict[str, object]:
    config = load_config()
    states = node_states()
    primary = next((n for n, s in states.items() if s in PRIMARY_STATES), None)
    hosts: dict[str, object] = {}
    for host in HOSTS:
        role = host.role
        if role == "pg":
            role = "pg-primary" if host.name == primary else "pg-standby"
        up = bool(host_pids(host)) and port_open(host.addr, host.port)
        hosts[host.name] = {"netns": host.netns, "addr": host.addr, "port": host.port,
                            "role": role, "state": "up" if up else "down"}
    lb = BY_NAME["lb"]
    return {"url": f"http://{lb.addr}:{lb.port}", "operatorToken": config.get("operatorToken"),
            "adminKey": config.get("adminKey"), "accountId": config.get("accountId"),
            "primary": primary, "databaseUrl": database_url(), "hosts": hosts}


def usagebook_cli(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "USAGEBOOK_DATABASE_URL": database_url(),
           "USAGEBOOK_SECRET_KEY": load_config()["secretKey"]}
    done = subprocess.run([str(VENV_BIN / "usagebook"), *args], env=env, text=True,
                          capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"FAILED: usagebook {args[0]}: {done.stderr.strip()}")
    return done.stdout


def up() -> None:
    if load_config():
        raise SystemExit(f"FAILED: a cluster already runs from {STATE}; `down` first")
    STATE.mkdir(parents=True, exist_ok=True)
    shutil.chown(STATE, "postgres", "postgres")
    for host in (BY_NAME["pg1"], BY_NAME["pg2"], BY_NAME["monitor"]):
        pg_dir(host).mkdir(exist_ok=True)
        shutil.chown(pg_dir(host), "postgres", "postgres")
    config = {"secretKey": secrets.token_urlsafe(32), "operatorToken": secrets.token_urlsafe(32)}
    (STATE / "cluster.json").write_text(json.dumps(config))
    make_network()
    for name in ("redis", "monitor"):
        start_host(BY_NAME[name], config)
    wait_host(BY_NAME["monitor"])
    wait_for("the monitor's database", _monitor_ready, 60)
    tune_monitor()
    start_host(BY_NAME["pg1"], config)
    wait_for("pg1 as the single primary",
             lambda: node_states(reached=True).get("pg1") == "single", 120)
    allow_lan(BY_NAME["pg1"])
    start_host(BY_NAME["pg2"], config)
    wait_for("pg2 as the synchronous standby",
             lambda: node_states(reached=True) == {"pg1": "primary", "pg2": "secondary"}, 120)
    allow_lan(BY_NAME["pg2"])
    usagebook_cli("migrate")
    usagebook_cli("prices", "import", str(ROOT / "deploy" / "prices.csv"))
    account = json.loads(usagebook_cli("accounts", "create", "cluster drill", "--json"))
    key = json.loads(usagebook_cli("keys", "create", "--account", account["id"], "--type",
                                   "ADMIN", "--description", "drill", "--json"))
    usagebook_cli("credits", "grant", "--account", account["id"], "--currency", "USD",
                  "--amount", "1000000", "--note", "cluster drill")
    config.update(accountId=account["id"], adminKey=key["key"])
    (STATE / "cluster.json").write_text(json.dumps(config))
    for host in HOSTS:
        start_host(host, config)
    for host in HOSTS:
        wait_host(host)
    print(json.dumps(status()))


def _monitor_ready() -> bool:
    try:
        psql(BY_NAME["monitor"], "pg_auto_failover", "SELECT 1 FROM pgautofailover.formation")
        return True
    except SystemExit:
        return False


def down() -> None:
    remove_network()
    if STATE.exists():
        logs = STATE.with_name(STATE.name + "-logs")  # the last run's logs, for a post-mortem
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir()
        for found in STATE.glob("*.log"):
            shutil.move(found, logs / found.name)
        shutil.rmtree(STATE)
    # pg_autoctl's pidfiles live apart, under /tmp/pg_autoctl/<data folder>; a stale one would
    # make the next `up` on the same folders refuse to start if its PID were taken again.
    shutil.rmtree(Path("/tmp/pg_autoctl") / STATE.relative_to("/"), ignore_errors=True)
    print(json.dumps({"down": True}))


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    command, names = argv[0], argv[1:]
    if command == "up":
        up()
    elif command == "status":
        print(json.dumps(status()))
    elif command == "down":
        down()
    elif command in ("kill", "start") and names and all(n in BY_NAME for n in names):
        # Several at once: a power cut, or a restart of them all together. The monitor goes
        # first: a keeper that finds it still starting up gives up after five quick retries.
        hosts = sorted((BY_NAME[name] for name in names), key=lambda h: h.role != "monitor")
        for host in hosts:
            if command == "kill":
                kill_host(host)
            else:
                start_host(host, load_config())
        if command == "start":
            for host in hosts:
                wait_host(host, 120)
        print(json.dumps(status()))
    else:
        raise SystemExit(f"FAILED: unknown command or host: {' '.join(argv)} "
                         f"(hosts: {', '.join(BY_NAME)})")


if __name__ == "__main__":
    main(sys.argv[1:])
