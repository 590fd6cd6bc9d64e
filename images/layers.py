"""Splits shipline's plugin images into layers, in the build stage of each Dockerfile.*:

    python3 layers.py /wheels /layers

writes one directory per image layer, each a root file system tree the final `FROM scratch` stage COPYs:

    /layers/runtime                 the interpreter, the shared libraries it and the installed extension modules
                                    link (from ldd), the stdlib (.pyc only) without tests/idlelib/tkinter/ensurepip/
                                    lib2to3/pydoc data/distutils, /etc/passwd, /tmp: no shell, no apt, no pip
    /layers/common                  what every plugin imports (requests, PyYAML, shipline's `shared`)
    /layers/kubernetes              the Kubernetes client and its closure (deploy, verify and chaos share it)
    /layers/<plugin>                the rest of that plugin's dependency closure, its code and its entry point

Every build stage runs the same command on the same inputs, so the four images share these layers. Python code
is precompiled (unchecked-hash .pyc: nothing is stat'ed or rewritten at run time). The stdlib and the Kubernetes
client's generated code are stored as .pyc only, the latter without its docstrings (the API reference: 16 of its
20 MB).
All mtimes are SOURCE_DATE_EPOCH, so the same wheels give the same layers.

Runs on the build stage's Python (Debian's python3 or the official python:3.11-slim) with the stdlib only.
"""

from __future__ import annotations

import ast
import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

PLUGINS = {  # image name -> its package under plugins/
    "docker-publish-tagger": "docker_publish_tagger",
    "kubectl-helm-deploy": "kubectl_helm_deploy",
    "deployment-verify": "deployment_verify",
    "chaos-kill": "chaos_kill",
}
# Shared layers, outermost first: a distribution goes to the first one whose plugins all need it; anything else
# is copied into each plugin's own layer.
SHARED = {"common": set(PLUGINS), "kubernetes": {"kubectl-helm-deploy", "deployment-verify", "chaos-kill"}}
# Declared dependencies shipline never imports: the Kubernetes client's asyncio twin (kubernetes/aio, dropped
# below) is their only user.
UNUSED = {"aiohttp", "aiohttp-retry"}
DROPPED_PATHS = re.compile(r"^(kubernetes/aio/|.*_test\.py$|.*/tests?/|[^/]+\.dist-info/RECORD$)")
# The Kubernetes client's package __init__s import every API and model class (~800 modules, ~1 s): rewritten to
# load each name on first use (PEP 562), so a plugin loads only the few it uses.
LAZY_INITS = {f"kubernetes/{p}__init__.py" for p in ("", "client/", "client/api/", "client/models/")}
# .pyc only: the Kubernetes client's generated code, and the stdlib (9 MB of sources in every image; a traceback
# through it shows file and line without the text; shipline's own code and the other packages keep their sources).
SOURCELESS = re.compile(r"^kubernetes/")
# Their docstrings are the API reference (16 of the client's 20 MB). Only kubernetes.watch.Watch reads them (to
# guess a list call's return type); shipline watches with shared/watching.py instead.
NO_DOCSTRINGS = re.compile(r"^kubernetes/client/(models|api)/")

LIB = "opt/shipline/lib"  # the packages, on sys.path through each entry point
STDLIB_DROPPED = {
    "test", "idlelib", "tkinter", "turtledemo", "turtle.py", "ensurepip", "lib2to3", "pydoc_data", "distutils",
    "venv", "curses", "sqlite3", "dbm", "nis.py", "crypt.py", "site-packages", "dist-packages", "__pycache__",
    "sitecustomize.py",
}  # fmt: skip
# (nis and _crypt, deprecated, would bring Kerberos and libtirpc along.)
DYNLOAD_DROPPED = re.compile(
    r"^(_tkinter|_curses|_curses_panel|readline|_dbm|_gdbm|_sqlite3|_test|xx|_xx|_ctypes_test|nis|_crypt|ossaudiodev)"
)
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))


def main(wheels: Path, out: Path) -> None:
    site = out.parent / f"{out.name}-site"
    subprocess.run(
        [sys.executable, f"{pip_wheel(wheels)}/pip", "install", "--quiet", "--no-index", "--find-links", str(wheels),
         "--no-cache-dir", "--disable-pip-version-check", "--no-compile", "--target", str(site), "shipline[all]"],
        check=True,
    )  # fmt: skip
    dists = read_distributions(site)
    holders: dict[str, set[str]] = {}
    sys.path.insert(0, pip_wheel(wheels))  # for pip's packaging (the build stage has no other)
    for plugin in PLUGINS:
        for name in closure(dists, "shipline", {plugin}):
            holders.setdefault(name, set()).add(plugin)
    for name, plugins in sorted(holders.items()):
        layers = [next((layer for layer, members in SHARED.items() if plugins == members), None)]
        if layers == [None]:
            layers = sorted(plugins)
        for path in dists[name]["files"]:
            if DROPPED_PATHS.match(path) or path.startswith(("../", "bin/")) or "__pycache__" in path:
                continue
            for layer in owner_of(path, layers):
                target = out / layer / LIB / path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(site / path, target)
                if path in LAZY_INITS:
                    make_lazy(target, path.removesuffix("/__init__.py").replace("/", "."))
    runtime = out / "runtime"
    copy_stdlib(runtime)
    for plugin, package in PLUGINS.items():
        write_entry_point(out / plugin, plugin, package)
    for layer in out.iterdir():
        compile_tree(layer)
    copy_libraries(runtime, [Path(os.path.realpath(sys.executable)), *sorted(out.rglob("*.so"))])
    write_system_files(runtime)
    for path in sorted(out.rglob("*")):
        os.utime(path, (EPOCH, EPOCH), follow_symlinks=False)
    shutil.rmtree(site)
    report(out)


def pip_wheel(wheels: Path) -> str:
    return sorted(glob.glob(f"{wheels}/pip-*.whl"))[-1]


# --- the packages --------------------------------------------------------------------------------------------------


def read_distributions(site: Path) -> dict[str, dict]:
    """name -> {"requires": [...], "files": [...]} of each distribution pip installed into `site`."""
    dists = {}
    for info in site.glob("*.dist-info"):
        metadata = (info / "METADATA").read_text(encoding="utf-8")
        name = normalize(re.search(r"^Name: (.+)$", metadata, re.M).group(1))
        requires = re.findall(r"^Requires-Dist: (.+)$", metadata, re.M)
        files = [line.rsplit(",", 2)[0] for line in (info / "RECORD").read_text().splitlines() if line]
        dists[name] = {"requires": requires, "files": files}
    return dists


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(dists: dict[str, dict], name: str, extras: set[str]) -> set[str]:
    """The distributions `name[extras]` needs on this platform (markers evaluated by pip's own packaging)."""
    from pip._vendor.packaging.requirements import Requirement  # noqa: PLC0415  (the build stage has no packaging)

    names: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(normalize(name), frozenset(extras))]
    while todo:
        current, wanted = todo.pop()
        if current in UNUSED or (current, wanted) in seen:
            continue
        seen.add((current, wanted))
        names.add(current)
        for line in dists[current]["requires"]:
            req = Requirement(line)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (wanted or {""})):
                continue
            todo.append((normalize(req.name), frozenset(req.extras)))
    return names


def owner_of(path: str, layers: list[str]) -> list[str]:
    """shipline's own files: plugins/<package>/ goes to that plugin's layer, the rest (shared/) to common."""
    match = re.match(r"plugins/([^/]+)/", path)
    if layers == ["common"] and match:
        return [plugin for plugin, package in PLUGINS.items() if package == match.group(1)]
    return layers


def make_lazy(init: Path, package: str) -> None:
    """Rewrites a package __init__ whose `from X import Y` lines only re-export names: each name is imported when
    first read (module __getattr__), everything else stays as it was."""
    tree = ast.parse(init.read_text())
    lazy: dict[str, tuple[str, str | None]] = {}
    kept = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = package if node.level else ""
            module = ".".join(filter(None, [base, node.module or ""]))
            for alias in node.names:
                submodule = node.module is None  # `from . import client`
                lazy[alias.asname or alias.name] = (f"{module}.{alias.name}" if submodule else module,
                                                    None if submodule else alias.name)  # fmt: skip
        else:
            kept.append(node)
    tree.body = kept
    init.write_text(
        ast.unparse(tree)
        + f"""
import importlib as _importlib
_LAZY = {lazy!r}


def __getattr__(name):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {{__name__!r}} has no attribute {{name!r}}") from None
    value = _importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
"""
    )


def write_entry_point(layer: Path, plugin: str, package: str) -> None:
    """A script the kernel runs (no shell): isolated (-I: no PYTHON* variables, no current directory on sys.path),
    unbuffered output (-u), no site (-S: the packages are in /opt/shipline/lib)."""
    script = layer / "opt/shipline/bin" / plugin
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        f"#!{os.path.realpath(sys.executable)} -IuS\n"
        "import sys\n"
        f'sys.path.insert(0, "/{LIB}")\n'
        f"from plugins.{package}.__main__ import main\n"
        "sys.exit(main())\n"
    )
    script.chmod(0o755)


def compile_tree(layer: Path) -> None:
    for source in sorted(layer.rglob("*.py")):
        inside = source.relative_to(layer).as_posix()
        packaged = inside.removeprefix(f"{LIB}/")
        sourceless = layer.name == "runtime" or (inside != packaged and SOURCELESS.match(packaged))
        optimize = 2 if inside != packaged and NO_DOCSTRINGS.match(packaged) else 0
        target = source.with_suffix(".pyc") if sourceless else Path(importlib.util.cache_from_source(str(source)))
        text = source.read_bytes()
        # Like compileall --invalidation-mode unchecked-hash, with the final path and per-file optimization.
        code = compile(text, f"/{inside}", "exec", dont_inherit=True, optimize=optimize)
        data = importlib._bootstrap_external._code_to_hash_pyc(code, importlib.util.source_hash(text), checked=False)
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data)
        if sourceless:
            source.unlink()


# --- the runtime ---------------------------------------------------------------------------------------------------


def copy_stdlib(runtime: Path) -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    dynload = Path(importlib.util.find_spec("_ssl").origin).parent
    replicate_dirs(stdlib, runtime)

    def ignore(directory: str, names: list[str]) -> set[str]:
        dropped = {n for n in names if n in STDLIB_DROPPED or n.endswith((".exe", ".pyc")) or n.startswith("config-")}
        if Path(directory) == dynload:
            dropped |= {n for n in names if DYNLOAD_DROPPED.match(n)}
        return dropped

    shutil.copytree(stdlib, runtime / stdlib.relative_to("/"), ignore=ignore, dirs_exist_ok=True)
    if not dynload.is_relative_to(stdlib):
        shutil.copytree(dynload, runtime / dynload.relative_to("/"), ignore=ignore, dirs_exist_ok=True)
    executable = Path(sys.executable)
    replicate(executable, runtime)
    for link in executable.parent.glob("python3*"):  # python3 -> python3.11
        if link.is_symlink() and os.path.realpath(link) == os.path.realpath(executable):
            replicate(link, runtime)


def copy_libraries(runtime: Path, binaries: list[Path]) -> None:
    """The shared libraries `binaries` link (transitively, as ldd lists them) and libgcc_s, which glibc loads
    when a thread exits; at the same paths, with their symlinks."""
    needed: set[str] = set()
    for binary in binaries:
        listed = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False).stdout
        if "not found" in listed:
            sys.exit(f"layers.py: {binary} links a library that is not here:\n{listed}")
        needed.update(re.findall(r"(?:=>\s*)?(/\S+)\s+\(0x", listed))
    needed.update(glob.glob("/lib/*-linux-gnu*/libgcc_s.so.1") or glob.glob("/usr/lib/*-linux-gnu*/libgcc_s.so.1"))
    for library in sorted(needed):
        if Path(library).is_relative_to(runtime.parent):
            continue  # a wheel's own bundled library (<package>.libs), already in its layer
        replicate(Path(library), runtime)


def write_system_files(runtime: Path) -> None:
    etc = runtime / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/nonexistent\nnobody:x:65534:65534::/nonexistent:/nonexistent\n")
    (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (runtime / "root").mkdir(mode=0o700, exist_ok=True)
    (runtime / "tmp").mkdir(exist_ok=True)
    (runtime / "tmp").chmod(0o1777)


def replicate_dirs(path: Path, root: Path) -> None:
    replicate(path, root, contents=False)


def replicate(path: Path, root: Path, contents: bool = True) -> None:
    """`path` at the same place under `root`, recreating every symlink on the way (merged /usr's /lib -> usr/lib,
    libssl.so.3 -> ...): the ELF interpreter and library paths must resolve as they do here."""
    current = Path("/")
    parts = path.parts[1:]
    for i, part in enumerate(parts):
        current = current / part
        target = root / current.relative_to("/")
        if current.is_symlink():
            link = os.readlink(current)
            if not target.is_symlink():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(link)
            resolved = Path(os.path.normpath(current.parent / link)).joinpath(*parts[i + 1 :])
            replicate(resolved, root, contents)
            return
    if current.is_dir() or not contents:
        target.mkdir(parents=True, exist_ok=True)
    elif not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(current, target)


def report(out: Path) -> None:
    sizes = {}
    for layer in sorted(out.iterdir()):
        sizes[layer.name] = sum(p.stat().st_size for p in layer.rglob("*") if p.is_file() and not p.is_symlink())
    print(json.dumps({name: f"{size / 1e6:.1f} MB" for name, size in sizes.items()}))
    assert not any(out.glob("*/usr/bin/sh")) and not any(out.glob("*/bin/sh")), "a shell got into a layer"


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
