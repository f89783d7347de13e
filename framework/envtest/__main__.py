"""`python -m framework.envtest --kubeconfig-out PATH [--port N] [--crd-dir DIR ...]
[--data-dir DIR]`

Serves the embedded API server until SIGINT/SIGTERM; prints one line containing `ready` (with
the URL and kubeconfig path) once it accepts requests. With `--data-dir` the state is kept in
SQLite there and loaded again by the next server started on it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys

from framework.envtest.apiserver.storage_sqlite import DataDirLocked
from framework.envtest.environment import Environment


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m framework.envtest", description=__doc__)
    parser.add_argument("--kubeconfig-out", required=True, help="where to write the kubeconfig")
    parser.add_argument("--port", type=int, default=0, help="listen port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (loopback default)")
    parser.add_argument(
        "--crd-dir", action="extend", nargs="+", default=[], help="CRD YAML dirs or files"
    )
    parser.add_argument("--event-window", type=int, default=10_000)
    parser.add_argument(
        "--data-dir", default=None, help="keep the state in SQLite in DIR (default: memory only)"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    env = Environment(
        args.crd_dir,
        port=args.port,
        host=args.host,
        event_window=args.event_window,
        kubeconfig_path=args.kubeconfig_out,
        data_dir=args.data_dir,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with env:
        print(f"ready {env.server_url} kubeconfig={env.kubeconfig}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    # Stored objects and the event window are many long-lived containers; frequent full
    # collections over them stall every request and watch (tens of ms). Collect less often.
    gc.set_threshold(100_000, 50, 1000)
    args = _parse(argv)
    try:
        asyncio.run(serve(args))
    except DataDirLocked as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
