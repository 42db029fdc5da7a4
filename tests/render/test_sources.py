"""The one source opener: cameras, videos and image folders through the core, synthetic performers rendered."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.tracking.frame_sources import FrameSourceError, ImageFolderSource, VideoFileSource
from studio.render.sources import is_synthetic, open_source, reads_in_real_time


@pytest.mark.gl
def test_a_synthetic_performer_plays_seconds_of_moderate_expressions(assets_dir, ict_rig):
    from studio.render.synthetic_performer import SyntheticPerformerSource

    with open_source("synthetic:3", ict_rig, seconds=10.0) as source:
        assert isinstance(source, SyntheticPerformerSource)
        assert (source.name, source.num_frames, source.fps, source.seed) == ("synthetic:3", 300, 30.0, 3)
        assert not source.curves[:30].any()  # it starts from a neutral face
        frame = next(iter(source))
        assert frame.image.shape == (480, 640, 3) and frame.truth_controls is not None
    with open_source("synthetic", ict_rig, seconds=1.0) as source:
        assert source.seed == 0 and source.num_frames == 30


def test_a_prompted_performer_follows_prompts(assets_dir, ict_rig):
    from studio.render.synthetic_performer import PromptedPerformerSource

    source = open_source("prompted:2", ict_rig)
    assert isinstance(source, PromptedPerformerSource) and source.seed == 2 and callable(source.perform)
    source.close()


def test_everything_else_is_the_cores_and_is_read_in_real_time(tmp_path, footage):
    import cv2

    with open_source(footage("d14.mp4")) as video:
        assert isinstance(video, VideoFileSource)
    cv2.imwrite(str(tmp_path / "0.png"), np.zeros((4, 6, 3), np.uint8))
    with open_source(tmp_path) as images:
        assert isinstance(images, ImageFolderSource)
    assert reads_in_real_time("camera:0") and reads_in_real_time("take.mp4")
    assert not reads_in_real_time("synthetic:1") and not reads_in_real_time("prompted")
    assert is_synthetic("prompted:4") and not is_synthetic("camera:1")


@pytest.mark.parametrize("spec", ["synthetic:x", "prompted:1.5"])
def test_a_bad_seed_is_one_line(spec):
    with pytest.raises(FrameSourceError, match="seed must be an integer") as error:
        open_source(spec)
    assert "\n" not in str(error.value)
