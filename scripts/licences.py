"""The licence of every runtime dependency, read from the installed distributions' metadata.

    .venv/bin/python scripts/licences.py [--dist yuqing] [--readme README.md] [--path SITE_PACKAGES]

Walks the requirements of `yuqing` (without extras: what a deployment installs) through the
installed distributions, and prints each one's name, version, licence and whether it is
permissive. The licence comes from `License-Expression` (SPDX, PEP 639), else the trove
classifiers, else a short `License` field. Exits 1 when a dependency is not permissive, or its
licence cannot be told from its metadata, and the README's "Licence" section does not name it
in backticks: a copyleft dependency cannot arrive unnoticed. `scripts/test` runs it, so CI does.
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PERMISSIVE = frozenset({
    "0BSD", "Apache-2.0", "BSD", "BSD-2-Clause", "BSD-3-Clause", "BSL-1.0", "CC0-1.0", "CNRI-Python", "HPND", "ISC",
    "MIT", "MIT-0", "MIT-CMU", "PSF-2.0", "Python-2.0", "Unlicense", "Zlib", "ZPL-2.1"})
# Trove classifiers (after "License :: OSI Approved :: ") and free-text `License` fields, as SPDX ids.
_ALIASES = {
    "apache software license": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache-2.0": "Apache-2.0",
    "apache license": "Apache-2.0", "apache license, version 2.0": "Apache-2.0", "apache license 2.0": "Apache-2.0",
    "mit license": "MIT", "mit": "MIT", "bsd license": "BSD", "bsd": "BSD", "new bsd license": "BSD-3-Clause",
    "python software foundation license": "PSF-2.0", "psfl": "PSF-2.0", "psf": "PSF-2.0", "psf-2.0": "PSF-2.0",
    "isc license (iscl)": "ISC", "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0", "mpl-2.0": "MPL-2.0",
    "historical permission notice and disclaimer (hpnd)": "HPND", "zope public license": "ZPL-2.1",
    "the unlicense (unlicense)": "Unlicense", "zlib/libpng license": "Zlib",
    "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0", "gnu general public license v3 (gplv3)": "GPL-3.0",
    "gnu lesser general public license v2 or later (lgplv2+)": "LGPL-2.0-or-later",
    "gnu general public license v2 (gplv2)": "GPL-2.0", "gnu affero general public license v3": "AGPL-3.0"}
# Full licence texts pasted into the `License` field (after a copyright line): these words say which one.
_LICENCE_WORDS = (("permission is hereby granted", "MIT"), ("bsd 3-clause", "BSD-3-Clause"),
                ("redistribution and use in source and binary forms", "BSD"),
                ("license agreement for matplotlib", "PSF-2.0"))


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str
    licence: str  # an SPDX expression, or "unknown"
    permissive: bool


def licence_of(dist: md.Distribution) -> str:
    meta = dist.metadata
    if _field(meta, "License-Expression"):
        return _field(meta, "License-Expression")
    classified = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or []
                  if c.startswith("License ::") and c.count(" :: ") >= 2]
    named = [_ALIASES.get(c.lower(), c) for c in classified]
    if named:
        return " OR ".join(dict.fromkeys(named))
    text = " ".join(_field(meta, "License").split()).lower()
    spdx = {p.lower(): p for p in PERMISSIVE}
    if text in _ALIASES or text in spdx:
        return _ALIASES.get(text) or spdx[text]
    return next((spdx for words, spdx in _LICENCE_WORDS if words in text[:400]), "unknown")


def _field(meta: md.PackageMetadata, key: str) -> str:
    return str((meta.get_all(key) or [""])[0])


def is_permissive(expression: str) -> bool:
    """True when one of the OR-alternatives is made of permissive licences only."""
    plain = expression.replace("(", " ").replace(")", " ")
    return any(all(part.strip() in PERMISSIVE for part in alternative.split(" AND "))
               for alternative in plain.split(" OR "))


def runtime_dependencies(dist_name: str, path: list[str] | None = None) -> list[Dependency]:
    """`dist_name`'s requirements without extras, recursively, as installed (each once)."""
    def find(name: str) -> md.Distribution | None:
        return next(iter(md.distributions(name=name, path=sys.path if path is None else path)), None)

    root = find(dist_name)
    if root is None:
        raise SystemExit(f"licences: distribution {dist_name!r} is not installed (run `make setup`)")
    seen: dict[str, Dependency] = {}
    todo = list(_requirements(root, extras=()))
    while todo:
        req = todo.pop()
        key = canonicalize_name(req.name)
        if key in seen:
            continue
        dist = find(req.name)
        if dist is None:
            raise SystemExit(f"licences: {req.name}, required by the dependency tree of {dist_name}, is not installed")
        expression = licence_of(dist)
        seen[key] = Dependency(dist.metadata["Name"], dist.version, expression, is_permissive(expression))
        todo += _requirements(dist, extras=tuple(req.extras))
    return sorted(seen.values(), key=lambda d: d.name.lower())


def _requirements(dist: md.Distribution, extras: Iterable[str]) -> list[Requirement]:
    wanted = [{"extra": ""}, *({"extra": e} for e in extras)]
    out = []
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate(env) for env in wanted):
            out.append(req)
    return out


def acknowledged(readme: Path) -> set[str]:
    """Names in backticks in the README's "## Licence" section."""
    text = readme.read_text(encoding="utf-8")
    match = re.search(r"^## Licence\b.*?(?=^## |\Z)", text, flags=re.M | re.S)
    return {canonicalize_name(n) for n in re.findall(r"`([A-Za-z0-9._-]+)`", match.group(0))} if match else set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dist", default="yuqing", help="the distribution whose dependencies are listed")
    parser.add_argument("--readme", type=Path, default=Path(__file__).resolve().parents[1] / "README.md")
    parser.add_argument("--path", action="append", metavar="DIR",
                        help="look for distributions here (e.g. another environment's site-packages; repeatable) "
                             "instead of this interpreter's sys.path")
    args = parser.parse_args(argv)
    deps = runtime_dependencies(args.dist, args.path)
    named = acknowledged(args.readme)
    width = max((len(d.name) for d in deps), default=0)
    version_width = max((len(d.version) for d in deps), default=0)
    problems = []
    for d in deps:
        verdict = "permissive" if d.permissive else "NOT PERMISSIVE"
        if not d.permissive and canonicalize_name(d.name) in named:
            verdict += " (named in the README)"
        elif not d.permissive:
            problems.append(d)
        print(f"{d.name:<{width}}  {d.version:<{version_width}}  {d.licence:<24} {verdict}")
    print(f"{len(deps)} runtime dependencies of {args.dist}, {sum(not d.permissive for d in deps)} not permissive")
    for d in problems:
        print(f"licences: {d.name} {d.version} is {d.licence}, not permissive, and {args.readme}'s "
              "\"## Licence\" section does not name it: review it, then list it there", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
