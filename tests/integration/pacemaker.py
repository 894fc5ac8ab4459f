"""A one-node Corosync 3 + Pacemaker 2.1 stack on loopback, without systemd, for integration tests.

    with Pacemaker(phantoms=["ghost"]) as stack:      # or stack.start() / stack.stop()
        stack.add_device("fence-a", "fence_stonith_baytech", {"ip": "127.0.0.1:4000", ...})
        stack.admin("--reboot", "phantom1")

Recipe and pitfalls: /work/shared/reference/pacemaker-harness.md.  The stack takes over fixed,
machine-wide paths (/etc/corosync/corosync.conf, /var/lib/pacemaker/{cib,pengine,blackbox}, UDP
5405, Pacemaker's IPC names), so ``start`` takes an exclusive lock file and refuses to run next to
a corosync or pacemakerd it did not start.  Everything it changes is backed up and restored by
``stop``, which signals only the PIDs it recorded itself (checked against their start time).
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import quoteattr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Self

LOCK_FILE = "/run/lock/stonith-pacemaker-tests.lock"
COROSYNC_CONF = Path("/etc/corosync/corosync.conf")
PCMK_DIR = Path("/var/lib/pacemaker")
PCMK_STATE_DIRS = ("cib", "pengine", "blackbox")  # wiped for a seeded CIB, restored on stop
COROSYNC_DIR = Path("/var/lib/corosync")
RUN_CRM = Path("/run/crm")
COROSYNC_PID = Path("/run/corosync.pid")
# The daemons and every agent run with this environment only (pitfall 4: no leakage).
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
# Programs the stack needs, with the Debian package providing each.
PROGRAMS = {
    "corosync": "corosync",
    "corosync-quorumtool": "corosync",
    "pacemakerd": "pacemaker",
    "cibadmin": "pacemaker-cli-utils",
    "crm_attribute": "pacemaker-cli-utils",
    "crm_mon": "pacemaker-cli-utils",
    "crm_resource": "pacemaker-cli-utils",
    "crmadmin": "pacemaker-cli-utils",
    "stonith_admin": "pacemaker-cli-utils",
}


class StackError(RuntimeError):
    """The stack could not be started, or a client command failed."""


# ---------------------------------------------------------------------------------------------
# /proc helpers: processes are identified by (pid, start time) so a reused PID is never signalled.


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    head, _, rest = text.rpartition(")")
    return [head.partition(" (")[0], head.partition(" (")[2], *rest.split()]


def _start_time(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[21]) if fields else None


def _alive(pid: int, start: int | None = None) -> bool:
    """Running and not a zombie (a non-systemd PID 1 may reap late), and the same process."""
    fields = _stat(pid)
    if fields is None or fields[2] in ("Z", "X"):
        return False
    return start is None or int(fields[21]) == start


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and int(fields[3]) == pid:
                found.append(int(entry))
    return found


def _descendants(pid: int) -> list[int]:
    result: list[int] = []
    todo = [pid]
    while todo:
        for child in _children(todo.pop()):
            result.append(child)
            todo.append(child)
    return result


def _signal(pid: int, start: int | None, sig: int) -> None:
    if _alive(pid, start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_gone(pid: int, start: int | None, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while _alive(pid, start):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


# ---------------------------------------------------------------------------------------------


def corosync_conf(node: str, phantoms: Sequence[str], logdir: Path, cluster: str = "stonithtest") -> str:
    nodes = [node, *phantoms]
    entries = "".join(
        f"    node {{\n        name: {name}\n        nodeid: {i}\n        ring0_addr: 127.0.0.{i}\n    }}\n"
        for i, name in enumerate(nodes, start=1)
    )
    return (
        "totem {\n    version: 2\n"
        f"    cluster_name: {cluster}\n"
        "    transport: knet\n    crypto_cipher: none\n    crypto_hash: none\n}\n"
        "logging {\n    fileline: off\n    to_stderr: yes\n    to_logfile: yes\n"
        f"    logfile: {logdir}/corosync.log\n"
        "    to_syslog: no\n    timestamp: on\n    debug: off\n}\n"
        "quorum {\n    provider: corosync_votequorum\n    expected_votes: 1\n}\n"
        f"nodelist {{\n{entries}}}\n"
    )


SEED_CIB = """\
<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value={dc_deadtime}/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
"""


class Pacemaker:
    """One Corosync + Pacemaker stack; ``start``/``stop`` are idempotent and restore the machine.

    ``phantoms`` are corosync nodelist entries that never join (startup fencing).  Beware: as soon as
    any stonith device exists the scheduler orders their fencing before every resource start, so a
    device that cannot fence them blocks all starts; adding ``<node>`` entries to the CIB when a capable
    device is already there is the deterministic way to get a cluster-initiated fence.  ``node`` is the
    local node, which no device may claim (fencing it takes the whole stack down).
    """

    def __init__(
        self,
        *,
        node: str = "node1",
        phantoms: Sequence[str] = (),
        dc_deadtime: str = "1s",
        wait_timeout: float = 90.0,
        lock_timeout: float = 300.0,
        debug: str | None = "pacemaker-fenced",
        reachable: Sequence[str] = (),
        stop_timeout: float = 30.0,
    ) -> None:
        self.node = node
        self.phantoms = list(phantoms)
        self.dc_deadtime = dc_deadtime
        self.wait_timeout = wait_timeout
        self.lock_timeout = lock_timeout
        self.debug = debug
        self.reachable = list(reachable)
        self.stop_timeout = stop_timeout
        self._granted: dict[Path, int] = {}  # directories given o+x for hacluster: original mode
        self.workdir: Path | None = None
        self._lock: int | None = None
        self._corosync: subprocess.Popen[bytes] | None = None
        self._pacemakerd: subprocess.Popen[bytes] | None = None
        self._daemons: dict[int, int | None] = {}  # pacemakerd's children: pid -> start time
        self._conf_backup: Path | None = None
        self._conf_existed = False
        self._dir_modes: dict[Path, tuple[int, int, int]] = {}
        self._ringids: set[str] = set()
        self._run_crm_existed = True
        self._backed_up = False
        self.start_seconds = 0.0

    # -- paths ----------------------------------------------------------------------------------

    @property
    def logdir(self) -> Path:
        assert self.workdir is not None, "stack not started"
        return self.workdir / "logs"

    @property
    def pacemaker_log(self) -> Path:
        return self.logdir / "pacemaker.log"

    def log_tail(self, lines: int = 60, grep: str | None = None) -> str:
        try:
            text = self.pacemaker_log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        if grep:
            text = [line for line in text if grep in line]
        return "\n".join(text[-lines:])

    # -- start ----------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._pacemakerd is not None:
            return
        began = time.monotonic()
        self._acquire_lock()
        try:
            self._refuse_foreign()
            self.workdir = Path(tempfile.mkdtemp(prefix="stonith-pacemaker-"))
            self.logdir.mkdir()
            self._backup()
            for path in self.reachable:
                self._grant_traverse(path)
            self._write_corosync_conf()
            self._start_corosync()
            self._prepare_logs()
            self._seed_cib()
            self._start_pacemakerd()
            self._wait_usable()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began

    def _acquire_lock(self) -> None:
        Path(LOCK_FILE).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        end = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    os.close(fd)
                    raise StackError(
                        f"another Pacemaker test stack holds {LOCK_FILE} (waited {self.lock_timeout:.0f} s)"
                    ) from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock = fd

    def _release_lock(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)
            self._lock = None

    @staticmethod
    def _refuse_foreign() -> None:
        with contextlib.suppress(OSError, ValueError):
            pid = int(COROSYNC_PID.read_text().split()[0])
            if _alive(pid):
                raise StackError(f"a corosync not started by this harness is running (pid {pid})")
        for entry in os.listdir("/proc"):
            fields = _stat(int(entry)) if entry.isdigit() else None
            if fields and fields[1] in ("corosync", "pacemakerd") and fields[2] not in ("Z", "X"):
                raise StackError(f"a {fields[1]} not started by this harness is running (pid {entry})")

    def _backup(self) -> None:
        assert self.workdir is not None
        backup = self.workdir / "backup"
        backup.mkdir()
        self._conf_existed = COROSYNC_CONF.exists()
        if self._conf_existed:
            self._conf_backup = backup / "corosync.conf"
            shutil.copy2(COROSYNC_CONF, self._conf_backup)
        for path in [PCMK_DIR, *(PCMK_DIR / d for d in PCMK_STATE_DIRS)]:
            with contextlib.suppress(FileNotFoundError):
                st = path.stat()
                self._dir_modes[path] = (st.st_uid, st.st_gid, st.st_mode & 0o7777)
        for name in PCMK_STATE_DIRS:
            source = PCMK_DIR / name
            if source.is_dir():
                shutil.copytree(source, backup / name, symlinks=True)
        self._ringids = {p.name for p in COROSYNC_DIR.glob("ringid_*")}
        self._run_crm_existed = RUN_CRM.exists()
        self._backed_up = True

    def _grant_traverse(self, path: str) -> None:
        """Let hacluster reach ``path`` (an agent's interpreter): o+x on root-owned directories lacking it.

        pacemaker-controld runs every agent's ``metadata`` as hacluster.  An interpreter below a 0700
        directory (a pyenv or venv under /root) makes those calls fail with exit 126; the controller
        then retries each resource operation's metadata, blocks for seconds at a time, and has been
        seen to leave an unkillable metadata child that stalls shutdown for 80 s.  Search permission
        only (no listing); the original modes are restored by ``stop``.
        """
        todo = [Path(path)]
        seen: set[Path] = set()
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            for parent in [*reversed(current.parents)]:
                with contextlib.suppress(OSError):
                    st = parent.stat()
                    if st.st_uid == 0 and not st.st_mode & 0o001 and parent not in self._granted:
                        self._granted[parent] = st.st_mode & 0o7777
                        parent.chmod((st.st_mode & 0o7777) | 0o001)
            if current.is_symlink():
                target = Path(os.readlink(current))
                todo.append(target if target.is_absolute() else current.parent / target)

    def _write_corosync_conf(self) -> None:
        COROSYNC_CONF.parent.mkdir(parents=True, exist_ok=True)
        tmp = COROSYNC_CONF.with_suffix(".stonith-tmp")
        tmp.write_text(corosync_conf(self.node, self.phantoms, self.logdir))
        tmp.chmod(0o644)
        os.replace(tmp, COROSYNC_CONF)

    def _prepare_logs(self) -> None:
        # Daemons running as hacluster write the Pacemaker log; the controller runs `metadata` as
        # hacluster too: the directory must be reachable and the log writable by that user.
        assert self.workdir is not None
        uid = pwd.getpwnam("hacluster").pw_uid
        gid = grp.getgrnam("haclient").gr_gid
        self.workdir.chmod(0o755)
        os.chown(self.logdir, -1, gid)
        self.logdir.chmod(0o2775)
        self.pacemaker_log.touch()
        os.chown(self.pacemaker_log, uid, gid)
        self.pacemaker_log.chmod(0o660)

    def _spawn(
        self, argv: list[str], name: str, extra_env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        assert self.workdir is not None
        with open(self.logdir / f"{name}.stdout", "wb") as out:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**CLEAN_ENV, **(extra_env or {})},
                start_new_session=True,
                cwd="/",
            )

    def _start_corosync(self) -> None:
        check = subprocess.run(
            ["corosync", "-t"], capture_output=True, text=True, env=CLEAN_ENV, timeout=30, check=False
        )
        if check.returncode != 0:
            raise StackError(f"corosync -t rejected the configuration: {check.stdout}{check.stderr}")
        self._corosync = self._spawn(["corosync", "-f"], "corosync")
        end = time.monotonic() + self.wait_timeout
        while True:
            if self._corosync.poll() is not None:
                raise StackError(f"corosync exited {self._corosync.returncode}: {self._stdout('corosync')}")
            quorum = self._client(["corosync-quorumtool", "-s"], timeout=10)
            if "Quorate:          Yes" in quorum.stdout or "Quorate: Yes" in " ".join(quorum.stdout.split()):
                return
            if time.monotonic() > end:
                raise StackError(f"corosync not quorate after {self.wait_timeout} s: {quorum.stdout}")
            time.sleep(0.1)

    def _seed_cib(self) -> None:
        cib = PCMK_DIR / "cib"
        for name in PCMK_STATE_DIRS:
            directory = PCMK_DIR / name
            directory.mkdir(exist_ok=True)
            for entry in directory.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        path = cib / "cib.xml"
        path.write_text(SEED_CIB.format(dc_deadtime=quoteattr(self.dc_deadtime)))
        uid = pwd.getpwnam("hacluster").pw_uid
        gid = grp.getgrnam("haclient").gr_gid
        os.chown(path, uid, gid)
        path.chmod(0o600)

    def _start_pacemakerd(self) -> None:
        env = {"PCMK_logfile": str(self.pacemaker_log), "PCMK_logfacility": "none"}
        if self.debug:
            env["PCMK_debug"] = self.debug
        self._pacemakerd = self._spawn(["pacemakerd", "-f"], "pacemakerd", env)

    def _wait_usable(self) -> None:
        assert self._pacemakerd is not None
        end = time.monotonic() + self.wait_timeout
        state = ""
        while time.monotonic() < end:
            if self._pacemakerd.poll() is not None:
                raise StackError(
                    f"pacemakerd exited {self._pacemakerd.returncode}: {self._stdout('pacemakerd')}"
                    f"\n{self.log_tail(30)}"
                )
            self._record_daemons()
            mon = self._client(["crm_mon", "-1", "-X"], timeout=10)
            state = mon.stdout
            if mon.returncode == 0 and self._dc_and_online(mon.stdout):
                crmd = self._client(["crmadmin", "-q", "-S", self.node], timeout=10)
                fencer = self._client(["stonith_admin", "-L"], timeout=10)
                if "S_IDLE" in crmd.stdout + crmd.stderr and fencer.returncode == 0:
                    self._record_daemons()
                    return
            time.sleep(0.2)
        raise StackError(f"Pacemaker not usable after {self.wait_timeout} s:\n{state}\n{self.log_tail(30)}")

    def _dc_and_online(self, xml_text: str) -> bool:
        try:
            root = ET.fromstring(xml_text)
        except ET.ParseError:
            return False
        dc = root.find(".//current_dc")
        if dc is None or dc.get("present") != "true":
            return False
        return any(n.get("name") == self.node and n.get("online") == "true" for n in root.iter("node"))

    def _record_daemons(self) -> None:
        if self._pacemakerd is not None:
            for pid in _children(self._pacemakerd.pid):
                self._daemons.setdefault(pid, _start_time(pid))

    def _stdout(self, name: str) -> str:
        with contextlib.suppress(OSError):
            return (self.logdir / f"{name}.stdout").read_text(errors="replace")[-2000:]
        return ""

    # -- stop -----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop what we started, kill orphaned agents, restore every file we changed.  Idempotent."""
        try:
            self._stop_pacemaker()
            self._stop_corosync()
        finally:
            try:
                self._restore()
            finally:
                self._release_lock()

    def agents_running(self) -> list[tuple[int, int | None]]:
        """Processes below the daemons (fence agents, each in its own process group)."""
        found = []
        for daemon, start in self._daemons.items():
            if _alive(daemon, start):
                found += [(pid, _start_time(pid)) for pid in _descendants(daemon)]
        return found

    def _stop_pacemaker(self) -> None:
        proc = self._pacemakerd
        if proc is None:
            return
        self._record_daemons()
        agents = self.agents_running()  # pacemakerd does not kill running agents on shutdown
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid, start in self._daemons.items():
            _signal(pid, start, signal.SIGKILL)
        agents += self.agents_running()
        for pid, start in agents:
            if _alive(pid, start):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
                _signal(pid, start, signal.SIGKILL)
        for pid, start in [*self._daemons.items(), *agents]:
            _wait_gone(pid, start, 10)
        self._pacemakerd = None
        self._daemons.clear()

    def _stop_corosync(self) -> None:
        proc = self._corosync
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._corosync = None

    def _restore(self) -> None:
        for directory, mode in self._granted.items():
            with contextlib.suppress(OSError):
                directory.chmod(mode)
        self._granted.clear()
        if not self._backed_up:
            return
        assert self.workdir is not None
        backup = self.workdir / "backup"
        if self._conf_backup is not None:
            shutil.copy2(self._conf_backup, COROSYNC_CONF)
        elif not self._conf_existed:
            COROSYNC_CONF.unlink(missing_ok=True)
        for name in PCMK_STATE_DIRS:
            directory = PCMK_DIR / name
            if directory.is_dir():
                shutil.rmtree(directory)
            if (backup / name).is_dir():
                shutil.copytree(backup / name, directory, symlinks=True)
        for path, (uid, gid, mode) in self._dir_modes.items():
            with contextlib.suppress(FileNotFoundError):
                os.chown(path, uid, gid)
                path.chmod(mode)
        for ringid in COROSYNC_DIR.glob("ringid_*"):
            if ringid.name not in self._ringids:
                ringid.unlink(missing_ok=True)
        if not self._run_crm_existed and RUN_CRM.is_dir():
            shutil.rmtree(RUN_CRM, ignore_errors=True)
        self._backed_up = False

    def remove_workdir(self) -> None:
        if self.workdir is not None and not self._backed_up:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # -- clients --------------------------------------------------------------------------------

    def _client(
        self, argv: list[str], timeout: float = 60, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a client with the clean environment and a hard timeout (pitfall 7: never wait forever)."""
        try:
            return subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=CLEAN_ENV,
                input=stdin,
                timeout=timeout,
                check=False,
                cwd="/",
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"{' '.join(argv)} did not finish within {timeout} s") from exc

    def run(self, *argv: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = self._client(list(argv), timeout=timeout)
        if check and proc.returncode != 0:
            raise StackError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stdout}{proc.stderr}")
        return proc

    def admin(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``stonith_admin ARGS`` (never checked: callers assert on the exit status)."""
        return self.run("stonith_admin", *args, timeout=timeout, check=False)

    def set_property(self, name: str, value: str) -> None:
        self.run("crm_attribute", "-t", "crm_config", "-n", name, "-v", value)

    def cib_create(self, section: str, xml_text: str) -> None:
        self.run("cibadmin", "--create", "-o", section, "--xml-text", xml_text)

    def cib_delete(self, section: str, xml_text: str) -> None:
        self.run("cibadmin", "--delete", "-o", section, "--xml-text", xml_text)

    def registered(self) -> list[str]:
        out = self.admin("-L", timeout=20).stdout
        return [line.strip() for line in out.splitlines() if line.strip() and "devices found" not in line]

    def add_device(
        self,
        device_id: str,
        agent: str,
        params: Mapping[str, str],
        *,
        wait: bool = True,
        started: bool = True,
        timeout: float = 30,
    ) -> None:
        """A stonith primitive without recurring monitor; wait until the fencer has it (and it runs)."""
        pairs = "".join(
            f"<nvpair id={quoteattr(f'{device_id}-ia-{name}')} name={quoteattr(name)}"
            f" value={quoteattr(value)}/>"
            for name, value in params.items()
        )
        self.cib_create(
            "resources",
            f"<primitive id={quoteattr(device_id)} class='stonith' type={quoteattr(agent)}>"
            f"<instance_attributes id={quoteattr(device_id + '-ia')}>{pairs}</instance_attributes>"
            "</primitive>",
        )
        if not wait:
            return
        end = time.monotonic() + timeout
        while device_id not in self.registered():
            if time.monotonic() > end:
                raise StackError(f"fencer did not register {device_id}:\n{self.log_tail(30)}")
            time.sleep(0.05)
        while started:
            locate = self.run("crm_resource", "--locate", "--resource", device_id, check=False, timeout=20)
            if "is running" in locate.stdout:
                break
            if time.monotonic() > end:
                raise StackError(f"{device_id} did not start: {locate.stdout}{locate.stderr}")
            time.sleep(0.1)

    def remove_device(self, device_id: str, timeout: float = 30) -> None:
        self.cib_delete("resources", f"<primitive id={quoteattr(device_id)}/>")
        end = time.monotonic() + timeout
        while device_id in self.registered():
            if time.monotonic() > end:
                raise StackError(f"fencer still has {device_id}")
            time.sleep(0.05)

    def add_levels(self, levels: Iterable[tuple[str, int, Sequence[str]]]) -> None:
        """Fencing-topology levels (target, index, devices), creating the section when missing."""
        xml = "".join(
            f"<fencing-level id={quoteattr(f'fl-{target}-{index}')} target={quoteattr(target)}"
            f" index='{index}' devices={quoteattr(','.join(devices))}/>"
            for target, index, devices in levels
        )
        have = self.run("cibadmin", "--query", "-o", "fencing-topology", check=False, timeout=20)
        if have.returncode == 0:
            self.cib_create("fencing-topology", xml)
        else:
            self.cib_create("configuration", f"<fencing-topology>{xml}</fencing-topology>")

    def history(self, target: str = "*") -> list[dict[str, str]]:
        """Every recorded fence event (``--history --verbose``) as attribute dicts."""
        proc = self.admin("--history", target, "--verbose", "--output-as=xml", timeout=20)
        try:
            root = ET.fromstring(proc.stdout)
        except ET.ParseError as exc:
            raise StackError(f"stonith_admin --history: {proc.stdout}{proc.stderr}") from exc
        return [dict(e.attrib) for e in root.iter("fence_event")]

    def node_states(self) -> dict[str, dict[str, str]]:
        mon = self.run("crm_mon", "-1", "-X", "--inactive", timeout=20)
        root = ET.fromstring(mon.stdout)
        nodes = root.find("nodes")
        found = [] if nodes is None else nodes.findall("node")
        return {n.get("name", ""): dict(n.attrib) for n in found if n.get("name")}
