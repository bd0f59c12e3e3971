"""The Debian packages pgha-proxy and pgha-agent (packaging/), built by cpack and installed.

tools/run-tests builds them from the release build, installs them with dpkg -i and runs this
module with PGHA_DEB_DIR (where the .deb files are) and PGHA_INSTALLED=1 (they are installed);
without those variables it is skipped. Tests run in file order:
- the .deb files themselves (dpkg-deb): control fields, dependencies, maintainer scripts,
  conffiles, every path and owner;
- what dpkg installed: the files where the README says, the conffiles registered, the `pgha`
  system user, each configuration readable by its service's user and no one else, the postinst
  idempotent, the systemd units pointing at the installed binaries;
- a real cluster (3 etcd, 3 PostgreSQL 15) run by the installed /usr/bin/pgha-agent, with the
  installed /usr/bin/pgha-proxy and its installed /etc/pgha/pgha-proxy.yaml in front: psql writes
  through :5432 and reads through :5433, /usr/bin/pghactl lists the members;
- last, dpkg's conffile policy: remove keeps the (edited) configuration, a reinstall keeps the
  edit, purge deletes it. The packages are purged at the end.
"""
import hashlib
import os
import pwd
import grp
import stat
import shutil
import subprocess
from pathlib import Path

import pytest

import pgha_cluster as pc

INSTALLED = os.environ.get("PGHA_INSTALLED") == "1"
DEB_DIR = os.environ.get("PGHA_DEB_DIR")
pytestmark = pytest.mark.skipif(not (INSTALLED and DEB_DIR),
                                reason="needs the packages built and installed: PGHA_INSTALLED=1 PGHA_DEB_DIR=DIR "
                                       "(tools/run-tests sets both)")

PROFILE = "quickest"
PROXY_BIN = Path("/usr/bin/pgha-proxy")
AGENT_BIN = Path("/usr/bin/pgha-agent")
PGHACTL_BIN = Path("/usr/bin/pghactl")
# What each package installs, and nothing else.
PACKAGES = {
    "pgha-proxy": {
        "binaries": [PROXY_BIN],
        "config": Path("/etc/pgha/pgha-proxy.yaml"),
        "service_user": "pgha",
        "unit": Path("/lib/systemd/system/pgha-proxy.service"),
        "docs": ["README.md", "architecture.md", "configuration.md"],
        "depends": ["adduser", "libyaml-cpp", "libspdlog", "libssl3"],
    },
    "pgha-agent": {
        "binaries": [AGENT_BIN, PGHACTL_BIN],
        "config": Path("/etc/pgha/pgha-agent.yaml"),
        "service_user": "postgres",
        "unit": Path("/lib/systemd/system/pgha-agent.service"),
        "docs": ["README.md", "agent.md"],
        "depends": ["postgresql-common", "libpq5", "libyaml-cpp", "libspdlog", "libssl3", "libcpp-httplib"],
    },
}
ALLOWED_DIRS = ("/usr/bin", "/etc/pgha", "/lib/systemd/system", "/usr/share/doc/")


def run(*cmd, timeout=120, **kw):
    """argv `cmd` to completion (stdin closed, so any prompt fails it); the CompletedProcess."""
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


def checked(*cmd, **kw):
    r = run(*cmd, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}: exit {r.returncode}\n{r.stdout}{r.stderr}"
    return r.stdout


def deb_of(package):
    debs = sorted(Path(DEB_DIR).glob(f"{package}_*.deb"))
    assert len(debs) == 1, f"want one {package}_*.deb in {DEB_DIR}, found {debs}"
    return debs[0]


def version():
    """The version both packages carry: the CMake project's."""
    return checked("dpkg-deb", "-f", deb_of("pgha-proxy"), "Version").strip()


def status(package):
    """dpkg's status of `package` in two letters ("ii" installed, "rc" removed with its
    configuration kept), or "" when dpkg knows nothing of it (purged)."""
    r = run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", package)
    return r.stdout.strip() if r.returncode == 0 else ""


def statoverride(path):
    """dpkg-statoverride's entry for `path` as [owner, group, mode] (["root", "pgha", 0o640]), or
    None."""
    r = run("dpkg-statoverride", "--list", path)
    if r.returncode != 0 or not r.stdout.strip():
        return None
    owner, group, mode = r.stdout.split(maxsplit=3)[:3]
    return [owner, group, int(mode, 8)]


def unit_settings(path):
    """A systemd unit as {section: [(key, value), ...]}: keys may repeat (ExecReload=)."""
    sections = {}
    current = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
        else:
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def first(settings, key):
    values = [v for k, v in settings if k == key]
    assert values, f"{key}= is missing"
    return values[0]


# ---- the .deb files ----------------------------------------------------------------------------

@pytest.mark.parametrize("package", PACKAGES)
def test_deb_control_fields_and_dependencies(package):
    deb = deb_of(package)
    fields = {f: checked("dpkg-deb", "-f", deb, f).strip() for f in
              ("Package", "Version", "Architecture", "Maintainer", "Depends", "Description")}
    assert fields["Package"] == package
    assert fields["Version"] == version() and fields["Version"][0].isdigit(), fields
    assert fields["Architecture"] == checked("dpkg", "--print-architecture").strip()
    assert fields["Maintainer"], fields
    depends = [d.strip().split()[0] for d in fields["Depends"].split(",")]
    for wanted in PACKAGES[package]["depends"]:
        assert any(d.startswith(wanted) for d in depends), f"{package} Depends lacks {wanted}: {fields['Depends']}"
    # Each library the binaries link comes from a package it depends on.
    assert any(d.startswith("libc6") for d in depends), fields["Depends"]


@pytest.mark.parametrize("package", PACKAGES)
def test_deb_holds_maintainer_scripts_and_conffiles(package, tmp_path):
    control = tmp_path / "control"
    checked("dpkg-deb", "--control", deb_of(package), control)
    for script in ("postinst", "prerm", "postrm"):
        mode = stat.S_IMODE((control / script).stat().st_mode)
        assert mode == 0o755, f"{script}: mode {oct(mode)}"
        text = (control / script).read_text()
        assert text.startswith("#!/bin/sh\n") and "\nset -e\n" in text and "@" not in text, script
        checked("sh", "-n", control / script)  # parses
    assert (control / "conffiles").read_text().split() == [str(PACKAGES[package]["config"])]


@pytest.mark.parametrize("package", PACKAGES)
def test_deb_contents_are_root_owned_and_where_the_readme_says(package):
    listing = checked("dpkg-deb", "-c", deb_of(package)).splitlines()
    files = {}
    for line in listing:
        mode, owner, _size, _date, _time, path = line.split(None, 5)
        path = path.split(" -> ")[0].lstrip(".")
        assert owner == "root/root", line
        if not mode.startswith("d"):
            files[path] = mode
    spec = PACKAGES[package]
    expected = {str(b): "-rwxr-xr-x" for b in spec["binaries"]}
    expected[str(spec["config"])] = "-rw-r--r--"  # 0640 root:GROUP once installed (statoverride)
    expected[str(spec["unit"])] = "-rw-r--r--"
    expected.update({f"/usr/share/doc/{package}/{d}": "-rw-r--r--" for d in spec["docs"]})
    assert files == expected


# ---- installed -------------------------------------------------------------------------------

@pytest.mark.parametrize("package", PACKAGES)
def test_installed_files_and_conffiles(package):
    spec = PACKAGES[package]
    assert status(package) == "ii"
    assert run("dpkg-query", "-W", "-f=${Version}", package).stdout == version()
    listed = checked("dpkg-query", "-L", package).split()
    for path in listed:
        assert path.startswith(ALLOWED_DIRS) or path in ("/.", "/usr", "/etc", "/lib", "/lib/systemd",
                                                       "/usr/share", "/usr/share/doc"), path
    for binary in spec["binaries"]:
        assert str(binary) in listed and os.access(binary, os.X_OK), binary
    for doc in spec["docs"]:
        assert (Path("/usr/share/doc") / package / doc).is_file(), doc
    conffiles = checked("dpkg-query", "-W", "-f=${Conffiles}", package).split()
    config = spec["config"]
    assert conffiles[0] == str(config), conffiles
    assert conffiles[1] == hashlib.md5(config.read_bytes()).hexdigest(), "installed config differs from the package's"


def test_pgha_system_user():
    user = pwd.getpwnam("pgha")
    group = grp.getgrnam("pgha")
    assert user.pw_gid == group.gr_gid
    assert user.pw_uid < 1000, "not a system user"
    assert user.pw_shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"), user.pw_shell
    assert not Path(user.pw_dir).exists(), user.pw_dir


@pytest.mark.parametrize("package", PACKAGES)
def test_config_readable_by_its_service_user_only(package):
    spec = PACKAGES[package]
    config = spec["config"]
    st = config.stat()
    assert (st.st_uid, grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode)) == \
        (0, spec["service_user"], 0o640)
    assert statoverride(config) == ["root", spec["service_user"], 0o640]
    # The service's user reads and accepts it, without a warning; another user cannot read it.
    validate = ([PROXY_BIN, "-c", "-f", config] if package == "pgha-proxy" else [AGENT_BIN, "--check", config])
    r = run("runuser", "-u", spec["service_user"], "--", *validate)
    assert r.returncode == 0 and "valid" in r.stdout and "warn" not in r.stderr.lower(), r.stdout + r.stderr
    r = run("runuser", "-u", "nobody", "--", *validate)
    assert r.returncode != 0, r.stdout


@pytest.mark.parametrize("package", PACKAGES)
def test_postinst_again_changes_nothing(package):
    config = PACKAGES[package]["config"]
    before = (pwd.getpwnam("pgha"), statoverride(config), config.stat())
    checked(f"/var/lib/dpkg/info/{package}.postinst", "configure", version())
    after = (pwd.getpwnam("pgha"), statoverride(config), config.stat())
    assert after == before


def test_binaries_answer_help():
    for binary in (PROXY_BIN, AGENT_BIN):
        r = run(binary, "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: {binary.name}"), r.stdout + r.stderr


def test_binaries_answer_version_of_the_package():
    for binary in (PROXY_BIN, AGENT_BIN, PGHACTL_BIN):
        r = run(binary, "--version")
        assert r.returncode == 0 and r.stdout.split()[:2] == [binary.name, version()], r.stdout + r.stderr


@pytest.mark.parametrize("package", PACKAGES)
def test_systemd_unit_runs_the_installed_binary(package):
    spec = PACKAGES[package]
    unit = unit_settings(spec["unit"])
    service = unit["Service"]
    assert first(service, "Type") == "notify" and first(service, "NotifyAccess") == "main"
    assert first(service, "WatchdogSec")
    assert first(service, "User") == spec["service_user"]
    executable = first(service, "ExecStart").split()[0]
    assert executable == str(spec["binaries"][0])
    reload_cmds = [v for k, v in service if k == "ExecReload"]
    assert reload_cmds[-1] == "/bin/kill -HUP $MAINPID", reload_cmds
    if package == "pgha-proxy":  # validate, then SIGHUP: a broken file never reaches the proxy
        assert reload_cmds[0].split()[:2] == [str(PROXY_BIN), "-c"], reload_cmds
    else:  # only the agent gets SIGTERM: it stops PostgreSQL itself, its fencing process outlives it
        assert first(service, "KillMode") == "process"
    assert first(unit["Install"], "WantedBy") == "multi-user.target"
    analyze = shutil.which("systemd-analyze")
    if analyze:  # also with no systemd running: it checks the unit's syntax and its executables
        r = run(analyze, "verify", spec["unit"])
        assert r.returncode == 0 and spec["unit"].name not in r.stderr, r.stderr


# ---- a cluster run by the installed binaries ---------------------------------------------------

@pytest.fixture(scope="module")
def cluster(cluster_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PGHA_PROXY_BIN", str(PROXY_BIN))
        env.setenv("PGHA_AGENT_BIN", str(AGENT_BIN))
        return cluster_factory(PACKAGES["pgha-proxy"]["config"], PROFILE, manager="pgha-agent")


def psql(port, sql):
    return checked(f"{pc.PG_BIN}/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", pc.LOOPBACK, "-p", port,
                   "-U", pc.SUPERUSER[0], "-d", "postgres", "-c", sql,
                   env={"PGPASSWORD": pc.SUPERUSER[1], "PGCONNECT_TIMEOUT": "5", "PATH": "/usr/bin:/bin"}).strip()


def test_cluster_of_installed_binaries_writes_and_reads_through_the_proxy(cluster):
    # The processes run the installed files, not a build tree's.
    assert os.readlink(f"/proc/{cluster.proxy_pid}/exe") == str(PROXY_BIN)
    for node in cluster.nodes.values():
        assert os.readlink(f"/proc/{node.agent_pid}/exe") == str(AGENT_BIN), node
    leader = cluster.node(cluster.leader())
    written = psql(pc.WRITE_PORT, "CREATE TABLE pkg_probe (id int); "
                                  "INSERT INTO pkg_probe VALUES (42) RETURNING inet_server_port()")
    assert written.splitlines()[-1] == str(leader.pg_port), written
    replica_ports = {str(cluster.node(n).pg_port) for n in cluster.replicas()}

    def read_on_replica():
        out = psql(pc.READ_PORT, "SELECT inet_server_port(), pg_is_in_recovery(), "
                                 "(SELECT count(*) FROM pkg_probe WHERE id = 42)")
        port, in_recovery, rows = out.split("|")
        return port in replica_ports and in_recovery == "t" and rows == "1"
    cluster.wait_for(read_on_replica, 20, "the row read back on a replica through :5433", 0.1)


def test_installed_pghactl_lists_the_members(cluster):
    out = checked(PGHACTL_BIN, "-c", cluster.node("node1").config_path, "list", timeout=60)
    for name in cluster.nodes:
        assert name in out, out
    assert cluster.leader() in out and "Leader" in out, out


# ---- dpkg's conffile policy (last: it purges the packages) --------------------------------------

def test_remove_keeps_conffiles_reinstall_keeps_edits_purge_deletes_them():
    names = list(PACKAGES)
    configs = [PACKAGES[p]["config"] for p in names]
    edited = PACKAGES["pgha-proxy"]["config"]
    with edited.open("a") as f:
        f.write("# a local edit\n")
    edited_text = edited.read_text()

    checked("dpkg", "--remove", *names)
    assert [status(p) for p in names] == ["rc", "rc"]
    for package, spec in PACKAGES.items():
        assert not any(b.exists() for b in spec["binaries"]) and not spec["unit"].exists()
        assert not (Path("/usr/share/doc") / package).exists()
    assert all(c.exists() for c in configs) and edited.read_text() == edited_text
    assert statoverride(edited) == ["root", "pgha", 0o640]

    # Reinstalled (stdin closed: a conffile question would fail it), the edit stays.
    checked("dpkg", "--install", *[deb_of(p) for p in names])
    assert [status(p) for p in names] == ["ii", "ii"]
    assert edited.read_text() == edited_text and stat.S_IMODE(edited.stat().st_mode) == 0o640

    checked("dpkg", "--purge", *names)
    assert [status(p) for p in names] == ["", ""]
    assert not any(c.exists() for c in configs) and not Path("/etc/pgha").exists()
    assert all(statoverride(c) is None for c in configs)
    assert pwd.getpwnam("pgha"), "the system user stays after a purge"
