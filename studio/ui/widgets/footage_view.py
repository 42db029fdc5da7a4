"""A take's source video beside its rigs, on the review's transport, and its sound.

:class:`FootageView` shows the picture of the video at the time the review asks for. Decoding happens in a
thread of the view's own (:class:`~studio.core.io.media.VideoFrameReader`: forward while playing, a seek on a
jump), which always works on the newest request only, so scrubbing never queues work and the GUI thread never
waits. :class:`TakeSound` plays the video's sound track through Qt Multimedia from where the transport is.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from studio.core.io.media import MediaError, VideoFrameReader


class FootageView(QWidget):
    """The source video of a take at the review's current time.

    Signals
    -------
    sigShown(float, float)
        ``(time asked, time of the frame shown)``, seconds, once a picture is on screen.
    """

    sigShown = Signal(float, float)
    _decoded = Signal(float, float, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.picture = QLabel()
        self.picture.setMinimumSize(160, 120)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.picture.setStyleSheet("background: #202020; color: #d0d0d0;")
        self.picture.setWordWrap(True)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.picture)
        self.path: Path | None = None
        self.shown_time: float | None = None
        self.image: np.ndarray | None = None
        self._request: tuple[int, float] | None = None  # (video generation, time)
        self._generation = 0
        self._lock = threading.Condition()
        self._closed = False
        self._reader_path: Path | None = None
        self._decoded.connect(self._show)
        self._thread = threading.Thread(target=self._run, name="footage-decoder", daemon=True)
        self._thread.start()
        self.set_video(None, "no take")

    def set_video(self, path: Path | None, message: str = "this take has no video") -> None:
        """Show ``path``'s pictures from now on, or ``message`` when there is no video (or it cannot be read)."""
        with self._lock:
            self._generation += 1
            self.path = Path(path) if path is not None else None
            self._request = None
        self.shown_time = None
        self.image = None
        if self.path is None or not self.path.is_file():
            why = message if self.path is None else f"the take's video is missing: {self.path}"
            self.picture.setPixmap(QPixmap())
            self.picture.setText(why)

    def show_time(self, time_s: float) -> None:
        """Show the picture at ``time_s`` (seconds from the video's first frame), decoded in the view's thread."""
        if self.path is None:
            return
        with self._lock:
            self._request = (self._generation, float(time_s))
            self._lock.notify()

    def _run(self) -> None:
        reader: VideoFrameReader | None = None
        generation = -1
        while True:
            with self._lock:
                while self._request is None and not self._closed:
                    self._lock.wait()
                if self._closed:
                    break
                (wanted_generation, time_s), self._request = self._request, None
                path = self.path
            try:
                if reader is None or wanted_generation != generation:
                    if reader is not None:
                        reader.close()
                    reader, generation = (VideoFrameReader(path, max_width=640) if path else None), wanted_generation
                found = reader.frame_at(time_s) if reader is not None else None
            except MediaError as error:
                reader = None
                self._decoded.emit(time_s, -1.0, str(error))
                continue
            if found is not None and wanted_generation == self._generation:
                self._decoded.emit(time_s, found[0], found[1])
        if reader is not None:
            reader.close()

    def _show(self, asked_s: float, frame_s: float, image) -> None:
        if isinstance(image, str):
            self.picture.setPixmap(QPixmap())
            self.picture.setText(image)
            return
        self.image = image
        height, width = image.shape[:2]
        qimage = QImage(image.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
        pixmap = QPixmap.fromImage(qimage)
        self.picture.setPixmap(pixmap.scaled(self.picture.size(), Qt.AspectRatioMode.KeepAspectRatio))
        self.shown_time = frame_s
        self.sigShown.emit(asked_s, frame_s)

    def close_view(self) -> None:
        """Stop the decoding thread (idempotent)."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join(2.0)


class TakeSound(QObject):
    """A take's sound track, played from where the review's transport is (Qt Multimedia).

    Attributes
    ----------
    available : bool
        A sound track is loaded (the take has one and the file exists).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.player = None
        self.output = None
        self.available = False
        self.error = ""

    def _ensure_player(self) -> None:
        if self.player is None:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

            self.output = QAudioOutput(self)
            self.player = QMediaPlayer(self)
            self.player.setAudioOutput(self.output)
            self.player.errorOccurred.connect(self._failed)

    def _failed(self, _error, text: str) -> None:
        self.error = text

    def set_source(self, path: Path | None) -> None:
        """Load ``path``'s sound (a video with a sound track), or nothing."""
        self.available = path is not None and Path(path).is_file()
        if self.player is None and not self.available:
            return
        self._ensure_player()
        self.player.stop()
        self.player.setSource(QUrl.fromLocalFile(str(path)) if self.available else QUrl())

    def play_from(self, time_s: float) -> None:
        """Start playing at ``time_s`` seconds."""
        if self.available:
            self.player.setPosition(int(round(1000.0 * time_s)))
            self.player.play()

    def pause(self) -> None:
        """Pause (the position stays)."""
        if self.available:
            self.player.pause()

    def seek(self, time_s: float) -> None:
        """Move to ``time_s`` without starting (a scrub while paused)."""
        if self.available:
            self.player.setPosition(int(round(1000.0 * time_s)))

    @property
    def playing(self) -> bool:
        """Whether sound is playing now."""
        if not self.available:
            return False
        from PySide6.QtMultimedia import QMediaPlayer

        return self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState

    def position_s(self) -> float:
        """Where the sound is, seconds."""
        return self.player.position() / 1000.0 if self.available else 0.0
