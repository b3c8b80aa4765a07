"""Recorded histories are append-only: a file once committed is never modified, renamed or deleted, so the
replay test keeps proving that executions started under old code still run (docs/architecture.md,
"Versioning"). Two independent checks: the checksum manifest beside the files (works without git), and git
itself (a clean clone of main has the history), which also catches a manifest edited along with a file."""

import hashlib
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HISTORIES = ROOT / "tests" / "histories"
MANIFEST = HISTORIES / "MANIFEST.sha256"
# Commits that rewrote histories before this rule was enforced; the files they overwrote were restored beside
# the rewritten ones (the *.v0a/v0b/v0c files). Never add to this list.
REWRITES_BEFORE_THE_RULE = frozenset({
    "51b80f691d96410020ae4001af073ae76c80b22d",
    "efbacee8094f33374caa12c9ef359c1c444a7d76",
    "ff494bee3af39d27928d8419b3a1cbffd4c3436e",
    "efbf9b7a2d0ae597a5a4b5f0089311a45fc126e6",
})


def history_files() -> list[Path]:
    return sorted(p for p in HISTORIES.rglob("*.json"))


def manifest() -> dict[str, str]:
    entries = {}
    for line in MANIFEST.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries[name] = digest
    return entries


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_history_is_in_the_manifest_unchanged():
    listed = manifest()
    files = {p.relative_to(HISTORIES).as_posix(): p for p in history_files()}
    missing = sorted(set(listed) - set(files))
    assert not missing, f"committed histories deleted or renamed: {missing}"
    changed = sorted(name for name, path in files.items() if name in listed and digest(path) != listed[name])
    assert not changed, f"committed histories modified (record a new file beside them instead): {changed}"
    unlisted = sorted(set(files) - set(listed))
    assert not unlisted, (f"new histories not in {MANIFEST.name}: {unlisted}; append their lines with "
                          "`sha256sum` (python -m tests.histories.manifest)")


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout


def in_git_checkout() -> bool:
    if shutil.which("git") is None:
        return False
    try:
        return git("rev-parse", "--is-inside-work-tree").strip() == "true"
    except subprocess.CalledProcessError:
        return False


def full_history() -> None:
    """The suite runs in a clone of the repository (CI clones it whole): the git checks need all of its commits."""
    assert in_git_checkout(), "run the tests in a git clone of the repository: the append-only check reads its log"
    assert git("rev-parse", "--is-shallow-repository").strip() == "false", (
        "a shallow clone hides the commits the append-only check reads: clone the whole repository")


def test_git_shows_histories_only_added():
    full_history()
    # the working tree against the last commit: a modification not yet committed
    pending = [line for line in git("status", "--porcelain", "--", "tests/histories").splitlines()
               if line[:2].strip() in {"M", "D", "R", "MM", "AM", "RM"} and line.rstrip().endswith(".json")]
    assert not pending, f"histories modified, renamed or deleted in the working tree: {pending}"
    rewrites = set(git("log", "--format=%H", "--diff-filter=MDR", "--", "tests/histories/*.json",
                       "tests/histories/**/*.json").split())
    assert not rewrites - REWRITES_BEFORE_THE_RULE, (
        f"commits that modified, renamed or deleted a recorded history: {sorted(rewrites - REWRITES_BEFORE_THE_RULE)}")


def test_the_manifest_itself_only_grows():
    """A line of the manifest, once committed, stays: editing a digest to match a rewritten file is caught."""
    full_history()
    current = manifest()
    for commit in git("log", "--format=%H", "--", "tests/histories/MANIFEST.sha256").split():
        old = git("show", f"{commit}:tests/histories/MANIFEST.sha256")
        for line in old.splitlines():
            if line.strip():
                d, name = line.split(maxsplit=1)
                assert current.get(name) == d, f"manifest line of {name} changed or dropped since {commit[:8]}"
