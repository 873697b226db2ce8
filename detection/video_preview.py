"""A browser-playable preview of a video: WebM (VP8), encoded beside the frame extraction.

OpenCV here cannot write H.264, and its VP8 writer uses libvpx's slow "good" settings with
no way to change them (about 11.5 ms a 360x240 frame on one core, four times the cost of
decoding and storing the frame). PyAV (FFmpeg's own bindings) sets libvpx to its realtime
deadline: about 3 ms a frame (picture quality was not compared; it is a preview, the frames
that are scored and reviewed are the stored JPEGs). Encoding runs
on a second thread fed by :meth:`PreviewWriter.add` (PyAV releases the GIL while it
encodes), so on two cores it overlaps the decoding instead of adding to it.

    with PreviewWriter("preview.webm", rate=5, size=(360, 240)) as preview:
        for frame in frames:          # BGR uint8, any size: resized to ``size``
            preview.add(frame)
"""

from __future__ import annotations

import contextlib
import queue
import threading
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Self

import cv2
import numpy as np

from detection.video_io import VideoError

#: libvpx options: realtime deadline, its fast speed step 8, constant quality ``crf`` 10
#: with a bit-rate ceiling ``b`` for busy scenes.
VP8_OPTIONS = {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "1M"}


class PreviewError(VideoError):
    """The preview could not be encoded (the video itself may be fine)."""


class PreviewWriter:
    """VP8 WebM frames handed in by :meth:`add`, encoded on a second thread."""

    def __init__(self, path: str | Path, *, rate: float, size: tuple[int, int]) -> None:
        import av

        if size[0] % 2 or size[1] % 2 or min(size) < 2:
            raise PreviewError(f"preview size {size} must be even and at least 2x2")
        self.size = size
        self._count = 0
        try:
            self._container = av.open(str(path), "w", format="webm")
            rate_fraction = Fraction(rate).limit_denominator(1000)
            self._stream = self._container.add_stream("libvpx", rate=rate_fraction)
            self._stream.width, self._stream.height = size
            self._stream.pix_fmt = "yuv420p"
            self._stream.thread_count = 1  # the second core is the decoder's
            self._stream.codec_context.time_base = 1 / rate_fraction
            self._stream.options = dict(VP8_OPTIONS)
        except (av.FFmpegError, ValueError) as exc:
            raise PreviewError(f"cannot write a WebM (VP8) preview here: {exc}") from exc
        self._frames: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=32)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="preview-writer", daemon=True)
        self._thread.start()

    def add(self, frame: np.ndarray) -> None:
        """Queue one BGR frame (waits while 32 are queued, so memory stays bounded)."""
        self._raise_if_failed()
        self._frames.put(frame)

    def close(self) -> int:
        """Encode what is queued, finish the file; returns how many frames it holds."""
        if self._thread.is_alive():
            self._frames.put(None)
            self._thread.join()
            if self._error is None:
                try:
                    for packet in self._stream.encode():
                        self._container.mux(packet)
                except Exception as exc:
                    self._error = exc
            self._container.close()
        self._raise_if_failed()
        return self._count

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is None:
            self.close()
        else:  # the job failed already: finish quietly, its error is the one to report
            with contextlib.suppress(PreviewError):
                self.close()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise PreviewError(f"the preview could not be written: {self._error}")

    def _run(self) -> None:
        import av

        while (frame := self._frames.get()) is not None:
            if self._error is not None:
                continue  # drain, so add() never blocks on a dead writer
            try:
                if frame.shape[1::-1] != self.size:
                    frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
                picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
                picture.pts = self._count
                for packet in self._stream.encode(picture):
                    self._container.mux(packet)
                self._count += 1
            except Exception as exc:
                self._error = exc
