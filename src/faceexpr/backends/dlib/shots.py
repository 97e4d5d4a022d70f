"""Hard cuts between shots, found frame by frame while a video is read.

:class:`ShotDetector` compares each frame with the one before, both shrunk to a thumbnail
(128 pixels wide) in HSV colour: the score is the mean absolute difference of hue
(OpenCV's 0-179, taken round the circle), saturation and value (0-255), as in the
``content_val`` of PySceneDetect's ContentDetector (default threshold 27). A frame starts a new shot
when its score reaches ``threshold``, is ``min_ratio`` times the recent scores of its shot,
and the shot has lasted ``min_shot_frames``. The answer comes at the cut frame itself: no
delay, no look-ahead, about 0.5 ms a 640×480 frame::

    shots = ShotDetector()
    for index, frame in enumerate(frames):
        if shots.push(index, frame):
            ...                      # `frame` is the first of shot number `shots.shot`

Measured on clips made from the test photographs (40 frames of a photo drifting, zooming
and turning, then 40 of another, written as MPEG-4 and read back): cuts between photos,
of other people or of the same person, scored 55-78; within a shot, a zoom of 1.0-1.5 over
80 frames scored at most 7 and fast motion (60 pixels and 15° of rotation back and forth
within 40 frames, with a zoom) at most 16.

Why not PySceneDetect itself: its 0.7 releases require the ``opencv-python`` distribution,
which would overwrite the ``cv2`` of ``opencv-contrib-python`` that faceexpr installs (see
``pyproject.toml``); the comparison it makes is a few lines of OpenCV.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import numpy.typing as npt

__all__ = ["MIN_RATIO", "MIN_SHOT_FRAMES", "THRESHOLD", "THUMBNAIL_WIDTH", "ShotDetector"]

THRESHOLD = 30.0
"""Default score (mean HSV difference, 0-255) from which a frame may start a new shot: cuts
between the test photographs scored 55-78, motion within a shot at most 16."""
MIN_SHOT_FRAMES = 15
"""Default shortest shot in frames (half a second at 30 fps): a flash or a flicker right
after a cut is not a second cut."""
MIN_RATIO = 3.0
"""Default factor by which a cut's score must exceed the mean of the shot's recent scores
(keeps a shaking camera, whose every frame differs a lot, from cutting)."""
THUMBNAIL_WIDTH = 128
"""Width in pixels to which frames are shrunk before they are compared."""
_WINDOW = 15  # recent scores of the shot that a cut is compared with


class ShotDetector:
    """Decide, frame by frame, whether a frame starts a new shot (a hard cut).

    Parameters
    ----------
    threshold
        Score (mean absolute difference of the HSV channels, 0-255) a cut must reach.
    min_shot_frames
        A cut less than this many frames (by ``frame_index``) after the previous cut, or
        after the first frame, is ignored.
    min_ratio
        A cut's score must also be at least this many times the mean score of the last
        frames of its shot (0: no such condition).
    width
        Width in pixels of the thumbnails compared (smaller frames are used as they are).

    Attributes
    ----------
    score
        Score of the last frame pushed (NaN for the first frame).
    shot
        Number of the current shot: 0 until the first cut, then 1, 2, ...
    """

    def __init__(self, threshold: float = THRESHOLD, min_shot_frames: int = MIN_SHOT_FRAMES,
                 min_ratio: float = MIN_RATIO, width: int = THUMBNAIL_WIDTH) -> None:
        if not (math.isfinite(threshold) and threshold > 0):
            raise ValueError(f"threshold must be a positive number, got {threshold!r}")
        if isinstance(min_shot_frames, bool) or not isinstance(min_shot_frames, int) \
                or min_shot_frames < 1:
            raise ValueError(f"min_shot_frames must be an integer >= 1, got "
                             f"{min_shot_frames!r}")
        if not (math.isfinite(min_ratio) and min_ratio >= 0):
            raise ValueError(f"min_ratio must be a number >= 0, got {min_ratio!r}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 8:
            raise ValueError(f"width must be an integer >= 8, got {width!r}")
        self.threshold = float(threshold)
        self.min_shot_frames = min_shot_frames
        self.min_ratio = float(min_ratio)
        self.width = width
        self.reset()

    def __repr__(self) -> str:
        return (f"ShotDetector(threshold={self.threshold}, min_shot_frames="
                f"{self.min_shot_frames}, min_ratio={self.min_ratio}, width={self.width})")

    def reset(self) -> None:
        """Forget every frame pushed so far (for the next video)."""
        self.score = math.nan
        self.shot = 0
        self._last: npt.NDArray[np.uint8] | None = None
        self._last_index: int | None = None
        self._shot_start = 0
        self._recent: deque[float] = deque(maxlen=_WINDOW)

    def push(self, frame_index: int, frame: npt.NDArray[np.uint8]) -> bool:
        """Take the next frame; return True when it starts a new shot.

        Parameters
        ----------
        frame_index
            The frame's number in the video; must increase from call to call (frames may
            be skipped, e.g. with a stride).
        frame
            (H, W, 3) colour (BGR or RGB: the score is the same but for rounding) or (H, W)
            grey, uint8. Grey frames are compared by brightness only.

        Raises
        ------
        ValueError
            When the frame is not a uint8 colour or grey image, or ``frame_index`` does
            not increase.
        """
        index = int(frame_index)
        if self._last_index is not None and index <= self._last_index:
            raise ValueError(f"frame_index must increase: got {index} after "
                             f"{self._last_index}")
        thumb = self._thumbnail(frame)
        previous, self._last, self._last_index = self._last, thumb, index
        if previous is None:
            self._shot_start = index
            return False
        self.score = 255.0 if previous.shape != thumb.shape else _difference(previous, thumb)
        recent = sum(self._recent) / len(self._recent) if self._recent else 0.0
        cut = (self.score >= self.threshold and self.score >= self.min_ratio * recent
               and index - self._shot_start >= self.min_shot_frames)
        if cut:
            self.shot += 1
            self._shot_start = index
            self._recent.clear()
        else:
            self._recent.append(self.score)
        return cut

    def _thumbnail(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        from faceexpr.io.video import require_cv2

        cv2 = require_cv2()
        img = np.asarray(frame)
        if img.dtype != np.uint8 or not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)) \
                or min(img.shape[:2]) < 1:
            raise ValueError(f"frame must be a uint8 (H, W) grey or (H, W, 3) colour image, "
                             f"got {img.dtype} {img.shape}")
        height, width = img.shape[:2]
        if width > self.width:
            size = (self.width, max(1, round(height * self.width / width)))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        if img.ndim == 2:
            return np.ascontiguousarray(img[:, :, None])
        thumb: npt.NDArray[np.uint8] = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        return thumb


def _difference(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    """Mean absolute difference of the channels, hue (if any) taken round its circle."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    if diff.shape[2] == 1:
        return float(diff.mean())
    hue = np.minimum(diff[:, :, 0], 180 - diff[:, :, 0])  # OpenCV's hue: 0-179, a circle
    return float((hue.mean() + diff[:, :, 1].mean() + diff[:, :, 2].mean()) / 3)
