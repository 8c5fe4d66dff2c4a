"""A WebSocket client of the real-time service (PyPI's websockets) turning its stream into JSON lines on stdout: reads until a notification about each `--until` subject has arrived (in any order), or `--count` notifications, or the server refuses or closes."""

import argparse
import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--token", required=True)
    parser.add_argument("--until", action="append", default=[],
                        help="stop once a notification with this subject_id arrived (repeatable: all of them)")
    parser.add_argument("--count", type=int, help="stop after this many notifications")
    parser.add_argument("--guard", type=float, default=120.0,
                        help="seconds after which a stuck client gives up (exit 2)")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.token}"}
    received = 0
    waiting_for = set(args.until)
    try:
        async with asyncio.timeout(args.guard):
            async with connect(args.url, additional_headers=headers) as ws:
                print(json.dumps({"connected": True}), flush=True)
                async for message in ws:
                    n = json.loads(message)
                    print(json.dumps({"notification": n, "raw": message}), flush=True)
                    received += 1
                    if args.until:
                        waiting_for.discard(n.get("subject_id"))
                        if not waiting_for:
                            return 0
                    if args.count and received >= args.count:
                        return 0
                # The server closed normally (e.g. 1001 when it stops).
                print(json.dumps({"closed": f"{ws.close_code} {ws.close_reason}"}), flush=True)
    except InvalidStatus as e:
        print(json.dumps({"refused": e.response.status_code}), flush=True)
        return 0
    except ConnectionClosed as e:
        print(json.dumps({"closed": str(e)}), flush=True)
        return 0
    except TimeoutError:
        print(f"ws_client: nothing more after {received} notifications in {args.guard} s",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
