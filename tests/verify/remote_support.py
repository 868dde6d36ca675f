"""A real S3-compatible server on loopback for the remote tests (moto's standalone server, the
same HTTP service `moto_server` runs), and two misbehaving network peers: a proxy that lets the
listing through and then drops every connection (a network failure mid-read), and a server
that accepts connections and never answers (a stalled endpoint).

Not a mock: lraudit talks HTTP to these through s3fs/aiobotocore exactly as to AWS.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import urllib.request
from pathlib import Path

BUCKET = "lraudit-test"
KEY_ID = "AKIALRAUDITTEST00001"
SECRET = "lraudit-test-secret-Zq9Wx"   # asserted never to appear in any output
REGION = "us-east-1"


def start_moto():
    """Start moto's threaded server on a free loopback port; returns (server, endpoint URL)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client(endpoint).create_bucket(Bucket=BUCKET)
    return server, endpoint


def client(endpoint: str, service: str = "s3", key: str = KEY_ID, secret: str = SECRET):
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=key, aws_secret_access_key=secret)


def s3_env(endpoint: str, key: str | None = KEY_ID, secret: str | None = SECRET) -> dict[str, str]:
    """The environment a user sets for S3 (credentials, an endpoint), with every other source
    of credentials (config files, instance metadata) switched off so the tests are hermetic."""
    env = {"AWS_ENDPOINT_URL_S3": endpoint, "AWS_DEFAULT_REGION": REGION,
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    if key is not None:
        env["AWS_ACCESS_KEY_ID"] = key
    if secret is not None:
        env["AWS_SECRET_ACCESS_KEY"] = secret
    return env


def upload_tree(endpoint: str, local: Path, prefix: str, bucket: str = BUCKET) -> None:
    s3 = client(endpoint)
    for path in sorted(Path(local).rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(local).as_posix()}")


def set_moto_auth(endpoint: str, actions_before_auth: str) -> None:
    """Turn moto's IAM enforcement on ("0": from the next request) or off ("inf")."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth",
                                     data=actions_before_auth.encode(), method="POST",
                                     headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(request, timeout=30).read()


class _Peer:
    """A loopback TCP listener served by a daemon thread; `port` and `stop()`."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stopped = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)   # wakes the accept() of the serving thread
        except OSError:
            pass
        self._sock.close()
        for conn in self._held:
            try:
                conn.close()
            except OSError:
                pass


def refusing_endpoint() -> str:
    """A loopback address where nothing listens: every connection is refused at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


class SilentServer(_Peer):
    """Accepts every connection and never sends a byte: a stalled endpoint."""

    def serve(self, conn: socket.socket) -> None:
        self._held.append(conn)


def _reset(conn: socket.socket) -> None:
    """Close with RST, as a dropped network path looks to the client."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    conn.close()


class ListingOnlyProxy(_Peer):
    """Forwards requests to `upstream` until the first object read, then resets that connection
    and every later one: the listing succeeds, the network fails mid-read."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit("//", 1)[1].split(":")
        self._upstream = (host, int(port))
        self.down = False
        self.forwarded: list[str] = []
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        buffer = b""
        while True:
            if self.down:
                return _reset(conn)
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return conn.close()
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(buffer) < length:
                buffer += conn.recv(65536)
            body, buffer = buffer[:length], buffer[length:]
            request_line = lines[0].decode("latin-1")
            if any(line.lower().startswith(b"range:") for line in lines[1:]):
                self.down = True           # the first object read: the network goes away
                return _reset(conn)
            self.forwarded.append(request_line)
            # the upstream answers and closes (Connection: close), so relaying to EOF is exact
            rewritten = [l for l in lines if not l.lower().startswith(b"connection:")]
            upstream = socket.create_connection(self._upstream, timeout=30)
            upstream.sendall(b"\r\n".join(rewritten) + b"\r\nConnection: close\r\n\r\n" + body)
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                conn.sendall(chunk)
            upstream.close()
