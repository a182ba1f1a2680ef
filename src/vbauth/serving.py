"""How ``vbauth serve`` runs under uvicorn, where uvicorn's defaults are not ours."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

GOING_AWAY = 1001  # RFC 6455: "an endpoint is going away, such as a server going down"


class GoingAwayWebSockets(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, but a shutdown closes open sockets with 1001 (going away)
    instead of 1012 (service restart): a stopped instance may not come back, and clients
    should reconnect, through the load balancer, to another one.

    uvicorn stops accepting connections, asks each to shut down (here), lets in-flight HTTP
    requests finish, then runs the app's shutdown (the last-use flush, pools closed).
    """

    def shutdown(self) -> None:
        if self.handshake_complete and not self.close_sent:
            self.stop_keepalive()
            self.queue.put_nowait({"type": "websocket.disconnect", "code": GOING_AWAY})
            self.conn.send_close(GOING_AWAY)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True  # what remains of uvicorn's shutdown just closes the transport
        super().shutdown()


def flush_logs_before_dying() -> None:
    """After a graceful shutdown uvicorn puts back the signal handlers it found and raises the
    signal again, so that whoever started the process sees it stopped by that signal. With the
    default handler the process then dies at once, and the log lines still waiting for the
    writer thread (up to 50 ms of them: uvicorn's own last lines) would be lost. This handler
    writes them out first, then lets the signal do what it does by default.
    """

    def flush_then_default(signum: int, _frame: FrameType | None) -> None:
        logging.shutdown()  # every handler closed: the writer drains what is waiting
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    for kind in (signal.SIGTERM, signal.SIGINT):
        signal.signal(kind, flush_then_default)
