"""The Debian package (debian/): built once per module from a copy of the tree, then inspected
with dpkg-deb, its unit checked by systemd-analyze, the packaged gateway run on the example
configuration, and its maintainer scripts run into a temporary root with the commands that
would change the machine (adduser, systemd) replaced by recorders.

The build installs the dependencies' wheels from the index pip is configured for; the time it
took is printed with the module's output (`pytest -s`, or `--durations`).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.vehicle_site import EXAMPLE_ENV, EXAMPLE_TOML, ROOT, UNIT, make_site
from tests.service_fixtures import _unavailable

# The build (a virtual environment with every dependency) takes minutes, not the suite's 120 s.
pytestmark = pytest.mark.timeout(1200)

BUILD_TOOLS = ("dpkg-buildpackage", "dpkg-deb", "dh", "dh_virtualenv", "openssl")
DEB_PYTHON = Path("/usr/bin/python3")
VENV = "opt/bluewatch/.venv"
STATE = "var/lib/bluewatch"
# What a build must not copy: the developer's environments, caches and services' data, and
# what a build in the tree leaves in debian/ (.gitignore lists the same).
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".run",
    "__pycache__",
    "*.egg-info",
    ".*_cache",
    ".hypothesis",
    "build",
    "dist",
)
_BUILT_IN_DEBIAN = shutil.ignore_patterns(
    "bluewatch", ".debhelper", "files", "debhelper-build-stamp", "*.substvars", "*.log"
)


def _not_source(folder: str, names: list[str]) -> set[str]:
    ignored = set(_NOT_SOURCE(folder, names))
    if Path(folder) == ROOT / "debian":
        ignored |= _BUILT_IN_DEBIAN(folder, names)
    return ignored


@dataclass(frozen=True)
class Package:
    deb: Path
    build_seconds: float


def _require_tools(*names: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        _unavailable(f"{', '.join(missing)} not installed (./run installs them)")


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    _require_tools(*BUILD_TOOLS)
    work = tmp_path_factory.mktemp("deb")
    source = work / "bluewatch"
    shutil.copytree(ROOT, source, ignore=_not_source, symlinks=True)
    started = time.monotonic()
    build = subprocess.run(
        ["dpkg-buildpackage", "-b", "-us", "-uc"],
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            # What is tested is the contents; a release keeps dpkg-deb's xz (a third smaller
            # for vehicles on mobile links), which takes a minute longer on this package.
            "DPKG_DEB_COMPRESSOR_TYPE": "gzip",
            "DPKG_DEB_COMPRESSOR_LEVEL": "1",
        },
    )
    seconds = time.monotonic() - started
    log = build.stdout + build.stderr
    assert build.returncode == 0, f"dpkg-buildpackage failed:\n{log[-6000:]}"
    (deb,) = work.glob("bluewatch_*.deb")
    print(f"\nbluewatch package built in {seconds:.1f} s: {deb.name}")
    return Package(deb, seconds)


@pytest.fixture(scope="module")
def unpacked(package: Package, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg-deb", "-x", str(package.deb), str(root)], check=True)
    return root


def _field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


def _contents(deb: Path) -> list[str]:
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    # "-rw-r--r-- root/root  2192 2026-11-28 12:00 ./lib/systemd/system/bluewatch.service"
    return [
        line.split(maxsplit=5)[5].split(" -> ")[0].removeprefix("./")
        for line in listing.splitlines()
    ]


def test_control_fields(package: Package) -> None:
    python = subprocess.run(
        [str(DEB_PYTHON), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    info = subprocess.run(
        ["dpkg-deb", "-I", str(package.deb)], capture_output=True, text=True, check=True
    ).stdout
    depends = [d.strip() for d in _field(package.deb, "Depends").split(",")]

    assert _field(package.deb, "Package") == "bluewatch"
    # Compiled wheels: the package is for one architecture and one Python.
    assert _field(package.deb, "Architecture") not in ("", "all")
    assert f"python{python}" in depends
    assert "adduser" in depends
    assert "bluez" in _field(package.deb, "Recommends")
    for script in ("postinst", "postrm", "preinst", "prerm"):
        assert f" {script} " in info


def test_contents(package: Package, unpacked: Path) -> None:
    paths = _contents(package.deb)

    for expected in (
        f"{VENV}/bin/bluewatch",
        f"{VENV}/pyvenv.cfg",
        "lib/systemd/system/bluewatch.service",
        "usr/share/bluewatch/gateway.example.toml",
        "usr/share/bluewatch/gateway.example.env",
        "usr/share/doc/bluewatch/install.md",
    ):
        assert expected in paths
    # dpkg owns nothing of the state or the site's configuration, so no upgrade or removal of
    # the package deletes the outbox, gateway.toml or a secret.
    assert not [p for p in paths if p.startswith((STATE, "etc/bluewatch"))]
    # The venv was built where it runs: its scripts start its own interpreter.
    shebang = (unpacked / VENV / "bin/bluewatch").read_text().splitlines()[0]
    assert shebang == f"#!/{VENV}/bin/python"
    # The files shipped are the repository's own.
    shipped = {
        "lib/systemd/system/bluewatch.service": UNIT,
        "usr/share/bluewatch/gateway.example.toml": EXAMPLE_TOML,
        "usr/share/bluewatch/gateway.example.env": EXAMPLE_ENV,
    }
    for path, source in shipped.items():
        assert (unpacked / path).read_bytes() == source.read_bytes(), path


def test_packaged_gateway_checks_the_example_configuration(unpacked: Path, tmp_path: Path) -> None:
    """The venv's interpreter runs from the unpacked tree (a venv finds its packages beside its
    python); `bluewatch check-config` from it proves the package holds the gateway and every
    dependency it imports."""
    site = make_site(tmp_path / "etc-bluewatch")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLUEWATCH_", "PYTHON"))}
    env.update(site.environment)
    python = unpacked / VENV / "bin/python"
    run = subprocess.run(
        [
            str(python),
            "-c",
            "import sys, gateway.cli as c; sys.argv[0] = 'bluewatch'; "
            "print(c.__file__, file=sys.stderr); c.main()",
            "check-config",
            str(site.config),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr.splitlines()[0].startswith(str(unpacked / VENV))
    assert "car-12" in run.stdout
    for secret in site.secrets.values():
        assert secret not in run.stdout + run.stderr


def test_unit_passes_systemd_analyze_verify(unpacked: Path) -> None:
    _require_tools("systemd-analyze")
    units = Path("/lib/systemd/system")
    # The targets and slices the unit names, as this machine's systemd ships them, beside the
    # packaged unit: verify resolves everything, ExecStart included, inside --root.
    shutil.copytree(
        units,
        unpacked / "lib/systemd/system",
        symlinks=True,
        dirs_exist_ok=True,
        copy_function=_copy_if_absent,
    )
    run = subprocess.run(
        ["systemd-analyze", "verify", f"--root={unpacked}", f"{units}/bluewatch.service"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert (run.returncode, run.stdout + run.stderr) == (0, "")


def _copy_if_absent(source: str, target: str) -> object:
    return target if os.path.lexists(target) else shutil.copy2(source, target)


def test_unit_keeps_its_hardening(unpacked: Path) -> None:
    unit = (unpacked / "lib/systemd/system/bluewatch.service").read_text().splitlines()

    for setting in (
        "User=bluewatch",
        "SupplementaryGroups=bluetooth",
        "StateDirectory=bluewatch",
        "StateDirectoryMode=0700",
        "UMask=0077",
        "LimitNOFILE=4096",
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "ProtectHome=true",
        "PrivateTmp=true",
        "WatchdogSec=30",
        "ConditionPathExists=/etc/bluewatch/gateway.toml",
    ):
        assert setting in unit


# --- maintainer scripts ---------------------------------------------------------------------

# Commands the scripts may run that would change this machine: each stub records its
# arguments. `install` runs for real under the temporary root, without -o/-g (the user does
# not exist here); getent finds no user or group, as on a fresh vehicle.
RECORDER = """#!{python}
import json, os, sys
with open(os.environ["RECORD"], "a") as log:
    log.write(json.dumps(sys.argv) + "\\n")
if os.path.basename(sys.argv[0]) == "getent":
    sys.exit(2)
if os.path.basename(sys.argv[0]) == "install":
    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg in ("-o", "-g"):
            skip = True
        else:
            args.append(arg)
    os.execv("/usr/bin/install", ["install", *args])
"""
STUBBED = (
    "getent",
    "adduser",
    "addgroup",
    "install",
    "deb-systemd-helper",
    "deb-systemd-invoke",
    "systemctl",
)


@dataclass
class Scripts:
    control: Path
    root: Path
    stubs: Path
    record: Path

    def run(self, script: str, *args: str) -> list[list[str]]:
        """Run one maintainer script as dpkg would with DPKG_ROOT; the commands it recorded."""
        self.record.write_text("")
        env = {
            "PATH": f"{self.stubs}:/usr/sbin:/usr/bin:/sbin:/bin",
            "DPKG_ROOT": str(self.root),
            "DPKG_MAINTSCRIPT_PACKAGE": "bluewatch",
            "RECORD": str(self.record),
        }
        run = subprocess.run(
            [str(self.control / script), *args],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        assert run.returncode == 0, f"{script} {args}: {run.stdout}{run.stderr}"
        return [
            [Path(argv[0]).name, *argv[1:]]
            for argv in map(json.loads, self.record.read_text().splitlines())
        ]


@pytest.fixture
def scripts(package: Package, tmp_path: Path) -> Scripts:
    # dh-virtualenv's snippets act on /opt/bluewatch/.venv itself, not under DPKG_ROOT: only
    # where the gateway is not installed is that a no-op.
    if Path("/opt/bluewatch").exists():
        pytest.skip("/opt/bluewatch exists: the gateway is installed on this machine")
    control = tmp_path / "DEBIAN"
    subprocess.run(["dpkg-deb", "-e", str(package.deb), str(control)], check=True)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in STUBBED:
        stub = stubs / name
        stub.write_text(RECORDER.format(python=sys.executable))
        stub.chmod(stat.S_IRWXU)
    root = tmp_path / "root"
    root.mkdir()
    return Scripts(control, root, stubs, tmp_path / "record.jsonl")


def test_postinst_creates_the_user_and_the_state_directory(scripts: Scripts) -> None:
    commands = scripts.run("postinst", "configure", "")

    assert ["addgroup", "--system", "bluetooth"] in commands
    (adduser,) = [c for c in commands if c[:2] == ["adduser", "--system"]]
    assert adduser[-1] == "bluewatch"
    assert "--group" in adduser
    assert ["adduser", "--quiet", "bluewatch", "bluetooth"] in commands
    state = scripts.root / STATE
    installs = [c for c in commands if c[0] == "install" and c[-1] == str(state)]
    assert installs == [
        ["install", "-d", "-m", "0700", "-o", "bluewatch", "-g", "bluewatch", str(state)]
    ]
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert ["deb-systemd-helper", "enable", "bluewatch.service"] in commands


def test_upgrade_and_removal_keep_the_outbox_and_purge_deletes_it(scripts: Scripts) -> None:
    scripts.run("postinst", "configure", "")
    state = scripts.root / STATE
    kept = {
        name: os.urandom(4096)
        for name in ("outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm")
    }
    for name, data in kept.items():
        (state / name).write_bytes(data)
    config = scripts.root / "etc/bluewatch/gateway.toml"
    config.write_text('agency = "metro-pd"\n')

    # An upgrade to the same version, in dpkg's order.
    for script, *args in (
        ("prerm", "upgrade", "0.1.0"),
        ("preinst", "upgrade", "0.1.0"),
        ("postrm", "upgrade", "0.1.0"),
        ("postinst", "configure", "0.1.0"),
        ("prerm", "remove"),
        ("postrm", "remove"),
    ):
        scripts.run(script, *args)
        assert state.is_dir(), (script, args)
        assert {p.name: p.read_bytes() for p in state.iterdir()} == kept, (script, args)
        assert stat.S_IMODE(state.stat().st_mode) == 0o700

    scripts.run("postrm", "purge")
    assert not state.exists()
    assert config.exists()  # the site's own configuration and secrets stay


def test_postinst_accepts_the_interpreter_trigger(scripts: Scripts) -> None:
    scripts.run("postinst", "triggered", f"{DEB_PYTHON.resolve()}")
