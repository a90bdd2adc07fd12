"""A Workload API caller whose process is gone: the process that connected exits, and a
child that inherited the connection makes the call. The agent identifies the caller by the
peer pid the kernel recorded at connect (pinned with a pidfd at accept), so it must refuse
with Unavailable "workload attestation failed" rather than serve whatever now has that pid.

The gRPC call is made by hand with the h2 library over the inherited socket (grpcio cannot
take an existing socket). Prints one JSON line: the grpc-status and grpc-message seen, or
the size of the first message when the call is served. With `alive`, the connecting process
makes the call itself: the control, which must be served.

Usage: pid_gone.py SOCKET_PATH [alive]
"""

import json
import os
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events

PATH = sys.argv[1]


def call(sock):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    stream = conn.get_next_available_stream_id()
    conn.send_headers(
        stream,
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "localhost"),
            (":path", "/SpiffeWorkloadAPI/FetchX509SVID"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("workload.spiffe.io", "true"),
        ],
    )
    # One gRPC message: not compressed, length 0 (an empty X509SVIDRequest).
    conn.send_data(stream, b"\x00\x00\x00\x00\x00", end_stream=True)
    sock.sendall(conn.data_to_send())
    seen = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                for name, value in event.headers:
                    name = name.decode() if isinstance(name, bytes) else name
                    value = value.decode() if isinstance(value, bytes) else value
                    if name in ("grpc-status", "grpc-message"):
                        seen[name] = value
            if isinstance(event, h2.events.DataReceived) and event.data:
                seen["message_bytes"] = len(event.data)
                return seen
            if isinstance(event, h2.events.StreamEnded) or "grpc-status" in seen:
                return seen
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    return seen


def main():
    if sys.argv[2:] == ["alive"]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(PATH)
        print(json.dumps(call(sock)))
        return
    read_end, write_end = os.pipe()
    connector = os.fork()
    if connector == 0:
        # The connecting process: connect, hand the socket to a child, exit.
        os.close(read_end)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(PATH)
        time.sleep(0.3)  # let the agent accept (and pin the pid) while we are alive
        caller = os.fork()
        if caller == 0:
            # Wait until the connecting process has exited (this one is reparented), then
            # call on the socket it opened.
            connecting = os.getppid()
            deadline = time.monotonic() + 10
            while os.getppid() == connecting and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)
            result = call(sock)
            os.write(write_end, json.dumps(result).encode())
            os._exit(0)
        os._exit(0)
    os.close(write_end)
    os.waitpid(connector, 0)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    print(b"".join(chunks).decode() or json.dumps({"error": "no answer"}))


main()
