#!/usr/bin/python3
"""A small RTSP server for the live-capture tests: one video file, looped forever, as H.264 on 127.0.0.1.

Run it with the *system* interpreter, which has GStreamer's Python bindings from Debian
(python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-{base,good,bad,ugly}, gstreamer1.0-libav):

    /usr/bin/python3 devkit/rtsp_server.py VIDEO [--port 8554] [--path stream]
                     [--user U --password P [--auth basic|digest]] [--max-seconds 120] [--watch-stdin]

It prints one line ``READY rtsp://127.0.0.1:<port>/<path>`` on stdout once it listens (``--port 0`` picks a free
port), and exits on SIGTERM/SIGINT, after ``--max-seconds``, or (with ``--watch-stdin``) when its stdin closes,
so a test that dies cannot leave it running.

How it works: a *producer* pipeline decodes the file into an ``appsink`` and seeks back to the start at end of
stream, so the loop never ends and never restarts the RTSP session. A pacing thread takes one decoded frame per
frame period (monotonic clock) and hands it to the ``appsrc`` of the one shared RTSP media (``x264enc
tune=zerolatency`` then ``rtph264pay``), whose live ``appsrc`` stamps it with the media's own running time. A
client that connects later joins the running stream and starts at the next key frame (one every
``--key-interval`` frames).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

MEDIA_LAUNCH = (
    "( appsrc name=src is-live=true format=time do-timestamp=true "
    "! queue max-size-buffers=4 leaky=downstream "
    "! x264enc tune=zerolatency speed-preset=ultrafast bframes=0 key-int-max={key} "
    "! video/x-h264,profile=constrained-baseline "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def complain(message: str) -> None:
    sys.stderr.write(f"rtsp_server: {message}\n")
    sys.stderr.flush()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video", help="video file to serve, looped forever")
    p.add_argument("--port", type=int, default=8554, help="TCP port on 127.0.0.1 (0: pick a free one)")
    p.add_argument("--path", default="stream", help="mount path, without the leading slash")
    p.add_argument("--user", help="require this user name (with --password)")
    p.add_argument("--password", help="password for --user")
    p.add_argument("--auth", choices=("basic", "digest"), default="basic", help="authentication scheme")
    p.add_argument("--width", type=int, help="scale frames to this width (keeps the encoder cheap)")
    p.add_argument("--height", type=int, help="scale frames to this height")
    p.add_argument("--fps", type=int, help="serve at this frame rate (default: the file's own)")
    p.add_argument("--key-interval", type=int, default=5, help="frames between H.264 key frames")
    p.add_argument("--max-seconds", type=float, default=300.0, help="exit after this long, whatever happens")
    p.add_argument("--watch-stdin", action="store_true", help="exit when stdin is closed (parent died)")
    args = p.parse_args(argv)
    if (args.user is None) != (args.password is None):
        p.error("--user and --password go together")
    return args


class LoopingSource:
    """Decodes the file forever and hands one frame per period to every attached ``appsrc``.

    Pacing is done here, on a thread with a monotonic schedule, rather than by a synchronised sink: the
    flushing seek that loops the file would otherwise let a burst of frames through at every loop.
    """

    def __init__(self, video: str, *, width: int | None, height: int | None, fps: int | None) -> None:
        caps = ["video/x-raw", "format=I420"]
        if width:
            caps.append(f"width={width}")
        if height:
            caps.append(f"height={height}")
        if fps:
            caps.append(f"framerate={fps}/1")
        self.pipeline = Gst.parse_launch(
            "filesrc name=file ! decodebin ! videoconvert ! videoscale ! videorate "
            f"! {','.join(caps)} ! appsink name=sink sync=false max-buffers=4 drop=false"
        )
        self.pipeline.get_by_name("file").set_property("location", video)
        self.sink = self.pipeline.get_by_name("sink")
        self.caps: Gst.Caps | None = None
        self.period_s = 1.0 / 25
        self._targets: set[Gst.Element] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pace, name="pacer", daemon=True)

    def start(self, timeout_s: float = 10.0) -> None:
        """Preroll to learn the raw caps the RTSP media must announce, then start decoding and pacing."""
        self.pipeline.set_state(Gst.State.PAUSED)
        ret, _, _ = self.pipeline.get_state(int(timeout_s * Gst.SECOND))
        if ret == Gst.StateChangeReturn.FAILURE:
            raise RuntimeError("cannot decode the video (state change failed)")
        sample = self.sink.emit("pull-preroll")
        if sample is None:
            raise RuntimeError("cannot decode the video (no first frame)")
        self.caps = sample.get_caps()
        ok, num, den = self.caps.get_structure(0).get_fraction("framerate")
        if ok and num > 0 and den > 0:
            self.period_s = den / num
        self.pipeline.set_state(Gst.State.PLAYING)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.pipeline.set_state(Gst.State.NULL)

    def attach(self, appsrc: Gst.Element) -> None:
        with self._lock:
            self._targets.add(appsrc)

    def detach(self, appsrc: Gst.Element) -> None:
        with self._lock:
            self._targets.discard(appsrc)

    def on_bus_message(self, _bus: Gst.Bus, msg: Gst.Message, loop: GLib.MainLoop) -> bool:
        if msg.type == Gst.MessageType.EOS:
            # Loop: back to the first frame. The RTSP media never sees the jump (its appsrc stamps buffers).
            self.pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        elif msg.type == Gst.MessageType.ERROR:
            err, _debug = msg.parse_error()
            complain(f"decoding failed: {err.message}")
            loop.quit()
        return True

    def _pace(self) -> None:
        next_due = time.monotonic()
        while not self._stop.is_set():
            sample = self.sink.emit("try-pull-sample", 100 * Gst.MSECOND)
            if sample is None:  # end of the file: the bus watch is seeking back to the start
                self._stop.wait(0.005)
                continue
            buf = sample.get_buffer()
            del sample  # appsink reuses its sample object: holding it makes the next caps update fail
            self._stop.wait(max(0.0, next_due - time.monotonic()))
            next_due = max(next_due + self.period_s, time.monotonic() - self.period_s)
            with self._lock:
                targets = list(self._targets)
            for appsrc in targets:
                # Share the memory but drop the producer's timestamps: the live appsrc stamps its own.
                appsrc.emit("push-buffer", buf.copy_region(Gst.BufferCopyFlags.MEMORY, 0, buf.get_size()))


def build_server(args: argparse.Namespace, source: LoopingSource) -> GstRtspServer.RTSPServer:
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(MEDIA_LAUNCH.format(key=max(1, args.key_interval)))
    factory.set_shared(True)

    def on_media_configure(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        appsrc = media.get_element().get_by_name("src")
        appsrc.set_property("caps", source.caps)
        source.attach(appsrc)
        media.connect("unprepared", lambda _m: source.detach(appsrc))

    factory.connect("media-configure", on_media_configure)

    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", args.user)
        if args.auth == "digest":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password, token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                f"{args.user}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )

    server.get_mount_points().add_factory("/" + args.path.strip("/"), factory)
    return server


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    Gst.init(None)
    loop = GLib.MainLoop()
    source = LoopingSource(args.video, width=args.width, height=args.height, fps=args.fps)
    try:
        source.start()
    except RuntimeError as exc:
        complain(f"{args.video}: {exc}")
        return 1
    source.pipeline.get_bus().add_watch(GLib.PRIORITY_DEFAULT, source.on_bus_message, loop)

    server = build_server(args, source)
    if server.attach(None) == 0:
        complain(f"cannot listen on 127.0.0.1:{args.port}")
        return 1

    exit_code = [0]

    def give_up() -> bool:
        complain(f"--max-seconds {args.max_seconds:g} reached, exiting")
        exit_code[0] = 3
        loop.quit()
        return False

    GLib.timeout_add(int(args.max_seconds * 1000), give_up)
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, lambda: loop.quit() or False)
    if args.watch_stdin:

        def on_stdin(fd: int, _cond: GLib.IOCondition) -> bool:
            if not os.read(fd, 4096):  # EOF: whoever started us is gone
                loop.quit()
                return False
            return True

        cond = GLib.IOCondition.IN | GLib.IOCondition.HUP
        GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, sys.stdin.fileno(), cond, on_stdin)

    sys.stdout.write(f"READY rtsp://127.0.0.1:{server.get_bound_port()}/{args.path.strip('/')}\n")
    sys.stdout.flush()
    try:
        loop.run()
    finally:
        source.stop()
    return exit_code[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
