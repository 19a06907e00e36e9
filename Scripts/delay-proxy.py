#!/usr/bin/env python3
"""A TCP proxy that holds every chunk of bytes for a fixed time in each direction, in order: a
network with that much latency between two processes on one machine (wzt-bench --link-delay).

    python3 Scripts/delay-proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS

LISTEN_PORT 0 takes a free one. Prints "listening PORT" once it accepts connections; runs until
its standard input ends (its parent closed it, or is gone) or it is killed."""
import asyncio
import os
import sys
import threading


async def pipe(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, chunk = await queue.get()
            if chunk is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(deliver())
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, chunk))
    except ConnectionError:
        pass
    queue.put_nowait((0, None))
    await sender


async def main():
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    listen_port, host, port, delay_ms = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])

    async def accept(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, server_writer, delay_ms / 1000), pipe(server_reader, client_writer, delay_ms / 1000),
                             return_exceptions=True)

    server = await asyncio.start_server(accept, "127.0.0.1", listen_port)
    print("listening", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
