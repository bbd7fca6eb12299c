"""An aiohttp application served on 127.0.0.1 from a thread of its own: the base of the venue emulators."""

import asyncio
import threading

from aiohttp import web


class LoopbackServer:
    """Subclasses add their routes (`routes`) and, if they need one, work beside the server (`running`).

    `start()` returns once the port is bound (`port`); `close()` stops the server and its work and joins the thread.
    """

    what = "the emulator"
    bind_port = 0  # 0: any free port (tests, benches); a demo binds a known one

    def start(self) -> None:
        self.started = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self.started.wait(10):
            raise RuntimeError(f"{self.what} did not start")

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def running(self) -> None:
        """Work of its own while the server runs (cancelled on close)."""

    async def closing(self) -> None:
        """Before the server shuts down (close open websockets)."""

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        app = web.Application(middlewares=getattr(self, "middlewares", ()))
        self.routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.bind_port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._stopping = asyncio.Event()
        self.started.set()
        work = asyncio.ensure_future(self.running())
        await self._stopping.wait()
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        await self.closing()
        await runner.cleanup()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)
