"""Whether a demo data set has been loaded: `make run` loads each set once, and says so when a load was cut short."""

from datetime import datetime

from core.settings import VAR
from domain.clock import SHANGHAI


def already_loaded(name: str, has_rows: bool) -> bool:
    """Whether the named demo set finished loading on an earlier start (a marker in var/, written last).

    Rows without the marker mean an earlier start was interrupted half-way: say so, and do not pile a
    second, different half on top of it.
    """
    if (VAR / f"demo-{name}.loaded").exists():
        print(f"Demo {name} already loaded; resuming.")
        return True
    if has_rows:
        print(f"Demo {name} was only partly loaded by an interrupted start; `make clean` then `make run` reloads it.")
        return True
    print(f"Loading demo {name} ...")
    return False


def mark_loaded(name: str) -> None:
    VAR.mkdir(exist_ok=True)
    (VAR / f"demo-{name}.loaded").write_text(datetime.now(SHANGHAI).isoformat() + "\n")
