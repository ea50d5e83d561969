"""A userspace fault proxy for tests (tc netem is not available here).

Chaos(upstream_port) listens on 127.0.0.1:<port> and forwards every connection
to the server. While it runs, faults can be switched on and off from the test
thread; they apply to the live connections and to new ones:

    latency(seconds, jitter=0)   one-way delay per direction, order preserved
    slice(True)                  forward byte by byte (1-byte TCP segments)
    blackhole("up"|"down"|None)  read and discard one direction, sockets kept open
    bandwidth(bytes_per_s)       cap each direction of each connection
    reset()                      RST every live connection (SO_LINGER 0)
    heal()                       all of the above off

The proxy runs an asyncio loop in a daemon thread; close() stops it.
"""
import asyncio
import random
import socket
import struct
import threading

HOST = "127.0.0.1"


class Chaos:
    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self._latency = 0.0
        self._jitter = 0.0
        self._slice = False
        self._blackhole = None
        self._rate = 0
        self._conns = set()      # (client writer, server writer) pairs, loop thread only
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)
        self.port = self._server.sockets[0].getsockname()[1]

    # ---- controls (any thread) ----
    def latency(self, seconds, jitter=0.0):
        self._latency, self._jitter = seconds, jitter

    def slice(self, on):
        self._slice = on

    def blackhole(self, direction):
        assert direction in (None, "up", "down")
        self._blackhole = direction

    def bandwidth(self, bytes_per_s):
        self._rate = bytes_per_s

    def heal(self):
        self._latency, self._jitter, self._slice, self._blackhole, self._rate = 0.0, 0.0, False, None, 0

    def reset(self):
        """RST every live connection, both sides; returns how many were reset."""
        done = threading.Event()
        box = []

        def do():
            n = 0
            for cw, sw in list(self._conns):
                for w in (cw, sw):
                    sock = w.get_extra_info("socket")
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    except OSError:
                        pass
                    w.transport.abort()
                n += 1
            self._conns.clear()
            box.append(n)
            done.set()
        self._loop.call_soon_threadsafe(do)
        done.wait(5)
        return box[0] if box else 0

    def close(self):
        """Stops accepting, drops every connection and ends the loop thread."""
        self.reset()

        async def stop():
            # Cancelled half-open streams report CancelledError: expected here, not news.
            asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # ---- loop thread ----
    def _run(self):
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._accept, HOST, 0))
        self._ready.set()
        self._loop.run_forever()

    async def _accept(self, creader, cwriter):
        self.accepted += 1
        try:
            sreader, swriter = await asyncio.open_connection(HOST, self.upstream)
        except OSError:
            cwriter.transport.abort()
            return
        for w in (cwriter, swriter):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = (cwriter, swriter)
        self._conns.add(pair)
        await asyncio.gather(self._pump(creader, swriter, "up"), self._pump(sreader, cwriter, "down"),
                             return_exceptions=True)
        self._conns.discard(pair)
        for w in (cwriter, swriter):
            w.transport.abort()

    async def _pump(self, reader, writer, direction):
        """Reads one direction and forwards it; a separate sender applies delay, so
        reading (and the peer's view of our receive window) never stalls behind it."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()
        last_due = 0.0

        async def sender():
            while True:
                due, data = await queue.get()
                if data is None:
                    return
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                chunks = [data[i:i + 1] for i in range(len(data))] if self._slice else [data]
                for c in chunks:
                    if self._rate:
                        await asyncio.sleep(len(c) / self._rate)
                    writer.write(c)
                    await writer.drain()

        task = asyncio.ensure_future(sender())
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self._blackhole == direction:
                    continue            # swallowed; the connection stays open
                delay = self._latency + (random.uniform(0, self._jitter) if self._jitter else 0.0)
                last_due = max(loop.time() + delay, last_due)   # jitter never reorders bytes
                queue.put_nowait((last_due, data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((0.0, None))
        try:
            await task
            writer.write_eof()
        except (ConnectionError, OSError, RuntimeError):
            pass
