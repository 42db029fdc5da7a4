"""Named landmark indices of MediaPipe's face mesh (478 points: 468 mesh points + 10 iris points).

*Right* and *left* are the performer's: for an unmirrored camera image, the performer's right eye is on the
image's left. The indices are those of MediaPipe's canonical face mesh (``face_mesh`` / Face Landmarker).
"""

from __future__ import annotations


class MediaPipeLandmarkIndex:
    """Indices of landmark groups used to read expressions off the mesh (ratios, resting-face detection)."""

    #: Inner contour of the lips, middle of the upper and of the lower lip (lip gap = mouth opening).
    UPPER_LIP_INNER = 13
    LOWER_LIP_INNER = 14
    #: Mouth corners (mouth width: stretch and smile widen it, pucker narrows it).
    MOUTH_CORNER_RIGHT = 61
    MOUTH_CORNER_LEFT = 291
    #: Eyelids, middle of the upper and lower lid of each eye (lid gap = eye openness).
    RIGHT_EYE_UPPER_LID = 159
    RIGHT_EYE_LOWER_LID = 145
    LEFT_EYE_UPPER_LID = 386
    LEFT_EYE_LOWER_LID = 374
    #: Eye corners: they move little with expression, so they give the scale (outer-corner span) and the eye
    #: centres that brow heights are measured from.
    RIGHT_EYE_OUTER = 33
    RIGHT_EYE_INNER = 133
    LEFT_EYE_INNER = 362
    LEFT_EYE_OUTER = 263
    #: Brows, one point on the upper edge of each (raise and frown move them against the eyes).
    RIGHT_BROW = 105
    LEFT_BROW = 334
    #: Iris centres (present with the 478-point model).
    RIGHT_IRIS_CENTER = 468
    LEFT_IRIS_CENTER = 473
