"""Tracking and the per-track decision's settings (``[tracking]``)."""

from __future__ import annotations

from pydantic import Field

from camera.configmodel import ConfigModel


class TrackingConfig(ConfigModel):
    """Following faces across frames and deciding who each track is (camera/track/tracker.py, camera/track/decision.py)."""

    iou_min: float = Field(0.3, ge=0, le=1, description="a face joins a track when its box overlaps this much (IoU)")
    max_shift: float = Field(0.75, ge=0, le=10, description="... or its centre moved at most this many face sizes")
    max_gap_s: float = Field(1.5, gt=0, le=600, description="a track ends after this many seconds unseen")
    link_max_distance: float = Field(0.45, ge=0, le=2, description="a new track joins a lost one when their faces "
                                     "are this close (Euclidean embedding distance); a named track's face farther "
                                     "than this from the track's faces is someone else (the track splits)")
    embed_interval_s: float = Field(0.0, ge=0, le=60, description="while a track is undecided, embed the best "
                                    "face of each such window, seconds, and run the detector this often (0: every "
                                    "frame)")
    recheck_interval_s: float = Field(1.0, ge=0, le=600, description="after an 'unknown' decision, embed a face "
                                      "this often (seconds) in case it is someone after all")
    max_embeddings: int = Field(8, ge=1, le=1000, description="faces a track keeps (its best and the newest); an "
                                "undecided track that has this many is embedded every recheck_interval_s")
    min_quality: float = Field(0.4, ge=0, le=1, description="faces below this quality (0-1) are neither embedded "
                               "nor counted")
    min_votes: int = Field(3, ge=1, le=100, description="good faces that must agree before a track is named "
                           "(or called unknown)")
    min_weight: float = Field(1.5, ge=0, le=100, description="... and their summed quality")
    min_agreement: float = Field(0.7, ge=0, le=1, description="share (0-1) of the good faces' weight that must agree")
    min_margin: float = Field(0.06, ge=0, le=2, description="the named person's mean distance must beat the "
                              "second-nearest person's by this much")
    track_max_distance: float = Field(0.56, gt=0, le=2, description="the named person's quality-weighted mean "
                                      "distance over the track must be at most this (and at most max_distance)")
    unknown_min_face_px: float = Field(
        60.0, ge=0, le=4000, description="a track is called unknown only on faces at least this big (shorter box "
        "side, full-resolution pixels): smaller faces read farther from everyone, so a family member far away would "
        "look like a stranger; they can still name someone")
    negative_radius: float = Field(0.0, ge=0, le=2, description="a face this close to a negative example of NAME "
                                   "is never NAME (0: only when nearer to it than to NAME's photos)")
