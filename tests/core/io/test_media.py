"""Takes' video and sound through PyAV: true frame times, sound tracks, timecode, and bad files in one line."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.io.media import MediaError, TakeVideoWriter, read_audio, smpte_timecode, timecode_rate
from studio.core.tracking.frame_sources import FrameSourceError, VideoFileSource

#: A phone's variable frame rate: frames 1/60, 1/30 and 1/15 s apart, in no pattern.
VFR_TIMES = np.cumsum(np.r_[0.0, np.random.default_rng(0).choice([1 / 60, 1 / 30, 1 / 15], 44)])


def test_a_variable_frame_rate_video_is_read_at_its_true_times(tmp_path, media_files):
    path = media_files.vfr_video(tmp_path / "vfr.mp4", VFR_TIMES)
    with VideoFileSource(path) as source:
        frames = list(source)
        assert source.num_frames == len(VFR_TIMES) and not source.has_audio and source.audio is None
    times = np.array([f.time_s for f in frames])
    np.testing.assert_allclose(times, VFR_TIMES, atol=1e-4)  # the presentation timestamps, exactly
    nominal = np.arange(len(VFR_TIMES)) / source.fps  # what a reader timing frames by the mean rate reports
    assert np.abs(nominal - VFR_TIMES).max() > 0.05
    assert [int(f.image[0, 0, 0]) for f in frames[:5]] == pytest.approx([0, 4, 8, 12, 16], abs=3)
    # segments decode to the same frames and times (two MediaPipes at once decode a video this way)
    with VideoFileSource(path) as source:
        tail = list(source.frames(20, 30, decoder_threads=1))
    assert [f.index for f in tail] == list(range(20, 30))
    np.testing.assert_allclose([f.time_s for f in tail], VFR_TIMES[20:30], atol=1e-4)


def test_a_take_video_keeps_its_sound_and_timecode(tmp_path, media_files):
    path = media_files.vfr_video(tmp_path / "tone.mp4", np.arange(30) / 30.0, tone_hz=440.0)
    with VideoFileSource(path) as source:
        assert source.has_audio and source.audio.rate == 16000
        chunk = source.audio.samples(0.25, 0.75)
    assert chunk.shape == (8000, 1)
    spectrum = np.abs(np.fft.rfft(chunk[:, 0]))
    assert np.fft.rfftfreq(8000, 1 / 16000)[np.argmax(spectrum)] == pytest.approx(440.0, abs=2.0)
    assert np.sqrt(np.mean(chunk**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    track = read_audio(path)
    assert track.duration_s == pytest.approx(1.0, abs=0.1)
    writer = TakeVideoWriter(tmp_path / "tc.mp4", (64, 48), 25.0, start_timecode="10:00:00:00")
    writer.add_frame(np.zeros((48, 64, 3), np.uint8), 0.0)
    with VideoFileSource(writer.close()) as source:
        assert source.start_timecode == "10:00:00:00"


def test_smpte_timecode_at_the_takes_rate():
    assert smpte_timecode(17 * 3600 + 35 * 60 + 44.3, 30.0) == "17:35:44:09"
    assert smpte_timecode(0.0, 25.0) == "00:00:00:00"
    assert smpte_timecode(100.5, 29.97) == "00:01:40;13"  # drop-frame
    assert timecode_rate(29.96) == "29.97" and timecode_rate(24.1) == "24" and timecode_rate(59.9) == "59.94"
    with pytest.raises(ValueError, match="time of day"):
        smpte_timecode(86400.0, 30.0)


def test_the_writer_refuses_what_it_cannot_write_and_leaves_nothing(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        TakeVideoWriter(tmp_path / "missing" / "take.mp4", (64, 48), 30.0)
    writer = TakeVideoWriter(tmp_path / "take.mp4", (64, 48), 30.0)
    writer.add_frame(np.zeros((48, 64, 3), np.uint8), 0.1)
    with pytest.raises(MediaError, match="is not after the previous frame"):
        writer.add_frame(np.zeros((48, 64, 3), np.uint8), 0.1)
    writer.discard()
    assert list(tmp_path.iterdir()) == []
    empty = TakeVideoWriter(tmp_path / "empty.mp4", (64, 48), 30.0)
    with pytest.raises(MediaError, match="no frame to write"):
        empty.close()
    assert list(tmp_path.iterdir()) == []


def test_bad_videos_say_what_is_wrong_in_one_line(tmp_path, media_files):
    with pytest.raises(FrameSourceError, match=r"has no video stream \(an audio-only file\)"):
        VideoFileSource(media_files.audio_only(tmp_path / "voice.mp4"))
    with VideoFileSource(media_files.backwards_video(tmp_path / "backwards.mkv")) as source:
        with pytest.raises(FrameSourceError, match=r"frame 5: .* the video's timestamps go backwards") as error:
            list(source)
    assert "\n" not in str(error.value)
    assert read_audio(tmp_path / "backwards.mkv") is None
