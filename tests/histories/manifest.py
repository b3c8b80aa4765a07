"""Append the checksums of new recorded histories to MANIFEST.sha256: `python -m tests.histories.manifest`.

Lines already there are never rewritten: a history, once committed, is never modified (tests/test_histories_append_only.py).
"""

import hashlib
from pathlib import Path

HERE = Path(__file__).parent
MANIFEST = HERE / "MANIFEST.sha256"


def main() -> None:
    listed = {line.split(maxsplit=1)[1] for line in MANIFEST.read_text().splitlines() if line.strip()} \
        if MANIFEST.exists() else set()
    new = [p for p in sorted(HERE.rglob("*.json")) if p.relative_to(HERE).as_posix() not in listed]
    with MANIFEST.open("a") as f:
        for p in new:
            f.write(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(HERE).as_posix()}\n")
            print(f"listed {p.relative_to(HERE)}")


if __name__ == "__main__":
    main()
