"""`python -m devhost [--host H] [--port P]`: serves function_app.app at http://H:P/api/... and runs
its timers, with the app settings of local.settings.json, like `func start`."""

import argparse
import importlib
import json
import logging
from pathlib import Path

import uvicorn

from devhost.host import DevHost, load_local_settings, name_of

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--settings", type=Path, default=PROJECT_ROOT / "local.settings.json")
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    load_local_settings(args.settings)  # before the app reads its settings at import

    from services.common.database import database_url

    database_url()  # the embedded database, when it is the one configured, starts and migrates now
    app = importlib.import_module("function_app").app
    host_json = json.loads((PROJECT_ROOT / "host.json").read_text(encoding="utf-8"))
    route_prefix = host_json.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    devhost = DevHost(app, route_prefix=route_prefix, directory=str(PROJECT_ROOT))
    for route in devhost.routes:
        logging.getLogger("devhost").info(
            "%s: [%s] http://%s:%d%s",
            name_of(route.function),
            ",".join(sorted(route.methods)),
            args.host,
            args.port,
            route.template,
        )
    uvicorn.run(devhost, host=args.host, port=args.port, lifespan="on", log_level="warning")


if __name__ == "__main__":
    main()
