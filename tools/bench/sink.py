# sink.py PORT - the benchmark upstream's upload sink (HTTP/1.1, keep-alive).
#
# Behind the bench nginx (tools/bench/upstream.conf.in, location /upload):
# reads each request's body (Content-Length or chunked) into one reusable
# buffer and drops it, then answers "200 ok".  No hashing, no copies beyond
# recv_into, so a gigabyte costs the upstream core little besides nginx's
# own TLS decryption.
import socket, socketserver, sys

BUF = 1 << 20
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Conn(socketserver.BaseRequestHandler):
    def setup(self):
        self.buf = bytearray(BUF)
        self.view = memoryview(self.buf)
        self.pending = b""   # bytes read past the current point

    def recv_some(self):
        if self.pending:
            d, self.pending = self.pending, b""
            return d
        return self.request.recv(65536)

    def line(self):
        while b"\r\n" not in self.pending:
            d = self.request.recv(65536)
            if not d:
                raise EOFError
            self.pending += d
        ln, _, self.pending = self.pending.partition(b"\r\n")
        return ln

    def discard(self, n):
        if self.pending:
            k = min(n, len(self.pending))
            self.pending = self.pending[k:]
            n -= k
        while n > 0:
            k = self.request.recv_into(self.view, min(n, BUF))
            if k == 0:
                raise EOFError
            n -= k

    def handle(self):
        try:
            while True:
                req = self.line()
                if not req:
                    continue
                clen, chunked, close = 0, False, False
                while True:
                    h = self.line()
                    if not h:
                        break
                    name, _, value = h.partition(b":")
                    name, value = name.strip().lower(), value.strip().lower()
                    if name == b"content-length":
                        clen = int(value)
                    elif name == b"transfer-encoding" and b"chunked" in value:
                        chunked = True
                    elif name == b"connection" and value == b"close":
                        close = True
                if chunked:
                    while True:
                        size = int(self.line().split(b";")[0], 16)
                        if size == 0:
                            while self.line():
                                pass
                            break
                        self.discard(size)
                        self.line()
                else:
                    self.discard(clen)
                self.request.sendall(OK)
                if close:
                    return
        except (EOFError, ConnectionError):
            return
        except ValueError:
            try:
                self.request.sendall(BAD)
            except OSError:
                pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


Server(("127.0.0.1", int(sys.argv[1])), Conn).serve_forever()
