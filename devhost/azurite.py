"""Azurite, Microsoft's storage emulator (npm package `azurite`, installed by `make setup` under
.tools/): its queue service, for the app's queue triggers where `AzureWebJobsStorage` is
`UseDevelopmentStorage=true`."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STORAGE_SETTING = "AzureWebJobsStorage"  # the app setting of the host's storage account
DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"
QUEUE_PORT = 10001  # the port `UseDevelopmentStorage=true` means
# Azurite's well-known development account (public, in Microsoft's documentation): not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def executable() -> str:
    """`azurite-queue` from .tools (make setup), else from the PATH (a global npm install)."""
    local = PROJECT_ROOT / ".tools" / "node_modules" / ".bin" / "azurite-queue"
    found = str(local) if local.exists() else shutil.which("azurite-queue")
    if found is None:
        raise RuntimeError("Azurite is not installed: run `make setup` (it installs the npm package into .tools/)")
    return found


def connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"QueueEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start(port: int, location: Path | None = None) -> subprocess.Popen[bytes]:
    """Azurite's queue service on 127.0.0.1:`port`, its data under `location` (None: in memory),
    once it accepts connections."""
    arguments = [
        executable(),
        "--queueHost",
        "127.0.0.1",
        "--queuePort",
        str(port),
        "--silent",
        "--skipApiVersionCheck",
    ]
    if location is None:
        arguments.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        arguments += ["--location", str(location)]
    process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603 - our own arguments
    deadline = time.monotonic() + 30
    while not listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"Azurite did not start on port {port}")
        time.sleep(0.1)
    return process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
