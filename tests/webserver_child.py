"""Run the real web app on camapp.webserver.WebServer in its own process, under an open-file limit.

`python tests/webserver_child.py DATA_DIR NOFILE [key=value ...]` prints the port on its first line, serves until
stdin closes; the keys set ServerLimits fields. tests/test_webserver.py drives it.
"""

from __future__ import annotations

import logging
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import ROOT
from test_web_support import make_appliance, seeded_store

from camapp.webserver import ServerLimits, WebServer


class _Factory:
    def __init__(self, base: Path) -> None:
        self.base, self.n = base, 0

    def mktemp(self, name: str) -> Path:
        self.n += 1
        path = self.base / f"{name}{self.n}"
        path.mkdir(parents=True)
        return path


def main() -> None:
    data, nofile = Path(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(levelname)s: %(message)s")
    kw = {k: float(v) if "." in v else int(v) for k, v in (a.split("=", 1) for a in sys.argv[3:])}
    video = ROOT / ".cache" / "media" / "vtest.avi"
    appl, feeder = make_appliance(data, video, seeded_store(_Factory(data / "seed"), video))  # type: ignore[arg-type]
    with WebServer(appl.app, "127.0.0.1", 0, limits=ServerLimits(**kw)) as srv:  # type: ignore[arg-type]
        print(srv.port, srv.cap, flush=True)
        sys.stdin.read()
    feeder.close()
    appl.close()


if __name__ == "__main__":
    main()
