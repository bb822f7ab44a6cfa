#!/usr/bin/env python3
"""A harness.sock client independent of the harness's code (docs/console.md "The control socket").

Usage: harness_client.py SOCKET REQUEST_JSON...
Connects to SOCKET (a UNIX-domain stream socket, or a symbolic link to one; a path too long for a socket address
is resolved to the link's target first, docs/console.md), sends each request as one line and
prints each reply line as received, in order. Exit 0 when every reply came, 1 when the connection failed or
closed early, 2 on bad usage.
"""
import os
import socket
import sys


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, requests = sys.argv[1], sys.argv[2:]
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(20)
        # A socket address holds at most 107 bytes of path: a long run folder's harness.sock is a link to /tmp.
        sock.connect(path if len(os.fsencode(path)) < 108 else os.path.realpath(path))
        f = sock.makefile("rwb")
        for request in requests:
            f.write(request.encode() + b"\n")
            f.flush()
            line = f.readline()
            if not line:
                print("connection closed before a reply", file=sys.stderr)
                return 1
            sys.stdout.write(line.decode())
            sys.stdout.flush()
    except OSError as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
