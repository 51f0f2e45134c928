#!/usr/bin/env python3
"""What each board profile (camera/profiles.py) costs per stage, on frames of the hamilton clip.

    .venv/bin/python scripts/bench_profiles.py [--profiles pi5,pi4,pi-zero-2] [--frames 40] [--detector NAME]
                                               [--width PX] [--json FILE]

Each profile's settings are taken as ``facecam run`` applies them
(``Config(profile=NAME).with_profile()``); ``--detector`` and ``--width``
(``detect_max_width``) are set explicitly on top, so they win over the
profile's, as in a config file. Per profile:

- ``detect``: the detector on ``--frames`` frames spread over the clip:
  median ms a frame, frames where it found a face, and the multiply-adds
  (MACs) of one run of its network on that input, counted from the ONNX graph
  (Conv and MatMul layers; MMOD's input is the tiled image pyramid of the
  downscaled frame, YuNet's the downscaled frame);
- ``embed``: landmarks + chip + descriptor on the faces found, median ms a
  face, and the ResNet's MACs a face;
- ``snapshot``: the frame and face-crop JPEGs a visit stores, at the
  profile's quality: median bytes of the two together and ms to encode them.

Once, for the capture path of the ``picamera`` source: encoding and
decoding one 1280x720 MJPEG frame at quality 80 (rpicam-vid encodes with
libjpeg on the CPU; facecam decodes), from a clip frame resized to 1280x720.

Onnxruntime gets the profile's threads, but at most this machine's cores
(printed). Figures are medians in milliseconds of this machine: on a shared
one they move from run to run; the ratios between rows, and the MACs, are
what carry over to a Raspberry Pi. Needs ``onnx`` (``scripts/setup.sh
--test``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from camera.app import Engines, data_dir, model_dir  # noqa: E402
from camera.config import Config  # noqa: E402
from camera.cores import cpu_cores  # noqa: E402
from camera.detect.yunet import padded  # noqa: E402
from camera.dlibport.mmod import pyramid_layout  # noqa: E402
from camera.events.store import encode_jpeg, face_crop  # noqa: E402
from camera.profiles import PROFILES  # noqa: E402
from models import entry  # noqa: E402
from models.fetch import fetched_path  # noqa: E402

DEFAULT_CLIP = REPO.parent / "shared" / "data" / "ageitgey+face_recognition" / "video" / "short_hamilton_clip.mp4"
#: timed passes over the frames (the median is over all of them)
REPEATS = 3


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", type=Path, default=DEFAULT_CLIP, help="video clip (default: hamilton)")
    p.add_argument("--profiles", default=",".join(PROFILES), help="profiles to measure (comma-separated)")
    p.add_argument("--frames", type=int, default=40, help="frames spread over the clip (default 40)")
    p.add_argument("--detector", help="a detector set explicitly over the profile's (e.g. yunet, once fetched)")
    p.add_argument("--width", type=int, help="a detect_max_width set explicitly over the profile's")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    frames = read_frames(args.source, args.frames)
    folder = model_dir(data_dir(Config()))  # $FACECAM_MODEL_DIR, else the data directory's
    print(f"{args.source.name}: {frames[0].shape[1]}x{frames[0].shape[0]}, {len(frames)} frames; this machine: "
          f"{cpu_cores()} cores")
    report: dict[str, object] = {"capture_720p_mjpeg": capture_cost(frames)}
    print(f"capture, one 1280x720 MJPEG frame at quality 80: {report['capture_720p_mjpeg']}")
    for name in args.profiles.split(","):
        overrides = {"profile": name, "engine.detector": args.detector, "engine.detect_max_width": args.width}
        cfg = Config().with_overrides(**overrides).with_profile()
        threads = min(cfg.engine.threads or cpu_cores(), cpu_cores())
        ec = cfg.engine.resolved(folder)  # the detector that runs: the default is YuNet where it is installed
        engine = Engines(folder).get(ec.model_copy(update={"threads": threads}))
        result = {"settings": {**PROFILES[name], "engine.detector": ec.detector_name,
                               "engine.detect_max_width": ec.detect_config().detect_max_width,
                               "threads_here": threads},
                  "detect": time_detection(engine.detector, frames, ec.detector_name, folder)}
        found = [(rgb, det) for rgb, det in zip(frames, result["detect"].pop("found"), strict=True) if len(det)]
        result["embed"] = time_embedding(engine.embedder, found, folder)
        result["snapshot"] = snapshot_cost(found, cfg.events.jpeg_quality)
        report[name] = result
        print(f"\n{name}: {json.dumps(result['settings'])}")
        for stage in ("detect", "embed", "snapshot"):
            print(f"  {stage:9}{json.dumps(result[stage])}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


def read_frames(clip: Path, count: int) -> list[np.ndarray]:
    """``count`` frames spread evenly over ``clip``, RGB uint8."""
    cap = cv2.VideoCapture(str(clip))
    every = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        every.append(np.ascontiguousarray(bgr[:, :, ::-1]))
    cap.release()
    if not every:
        raise SystemExit(f"bench_profiles: no frames in {clip}")
    return every[:: max(1, len(every) // count)][:count]


def time_detection(detector, frames: list[np.ndarray], name: str, folder: Path) -> dict:
    """Median ms a frame over :data:`REPEATS` passes, frames with a face, and the network's MACs a frame."""
    detector.detect(frames[0])  # loads the model
    times, found = [], []
    for r in range(REPEATS):
        for rgb in frames:
            t = time.perf_counter()
            det = detector.detect(rgb)
            times.append(time.perf_counter() - t)
            if r == 0:
                found.append(det)
    h, w = frames[0].shape[:2]
    scale = min(1.0, (detector.cfg.detect_max_width or w) / w) * 2 ** detector.upsample
    sh, sw = round(h * scale), round(w * scale)
    if name == "mmod":
        _, nr, nc = pyramid_layout(sh, sw, 10, 11)
        macs = network_macs(folder / "dlib_mmod.onnx", {"pyramid": [1, 3, nr, nc]})
        net_input = f"pyramid canvas {nc}x{nr}"
    elif name == "yunet":
        ph, pw = padded(sh), padded(sw)
        macs = network_macs(fetched_path("yunet_2026may", folder), {"input": [1, 3, ph, pw]})
        net_input = f"frame {pw}x{ph}"
    else:
        macs, net_input = None, f"frame {sw}x{sh}"
    return {"ms_per_frame": _median_ms(times), "frames_with_face": sum(len(d) > 0 for d in found),
            "frames": len(frames), "network_input": net_input,
            "gmacs_per_frame": None if macs is None else round(macs / 1e9, 3), "found": found}


def time_embedding(embedder, found: list, folder: Path) -> dict:
    """Median ms a face (landmarks + chip + descriptor), one face a call, and the ResNet's MACs a face."""
    if not found:
        return {"ms_per_face": None, "faces": 0}
    one = [(rgb, det.select(np.array([0]))) for rgb, det in found]
    embedder.embed(*one[0])
    times = []
    for _ in range(REPEATS):
        for rgb, det in one:
            t = time.perf_counter()
            embedder.embed(rgb, det)
            times.append(time.perf_counter() - t)
    name = entry("dlib_resnet_v1")["converted_file"]
    return {"ms_per_face": _median_ms(times), "faces": len(one),
            "gmacs_per_face": round(network_macs(folder / name, {"chips": [1, 150, 150, 3]}) / 1e9, 3)}


def snapshot_cost(found: list, quality: int) -> dict:
    """The frame + face-crop JPEGs an event stores, at ``quality``: median bytes and encode ms."""
    if not found:
        return {"jpeg_quality": quality}
    sizes, times = [], []
    for rgb, det in found:
        t = time.perf_counter()
        size = len(encode_jpeg(rgb, quality)) + len(encode_jpeg(face_crop(rgb, det.xyxy[0]), quality))
        times.append(time.perf_counter() - t)
        sizes.append(size)
    return {"jpeg_quality": quality, "bytes_per_event": int(statistics.median(sizes)), "encode_ms": _median_ms(times)}


def capture_cost(frames: list[np.ndarray]) -> dict:
    """Median ms to encode and to decode one 1280x720 frame as JPEG at quality 80 (OpenCV's libjpeg)."""
    big = [cv2.resize(f[:, :, ::-1], (1280, 720), interpolation=cv2.INTER_LINEAR) for f in frames]
    enc, dec, data = [], [], []
    for _ in range(REPEATS):
        for bgr in big:
            t = time.perf_counter()
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
            enc.append(time.perf_counter() - t)
            data.append(buf)
    for buf in data:
        t = time.perf_counter()
        cv2.imdecode(buf, cv2.IMREAD_COLOR)
        dec.append(time.perf_counter() - t)
    return {"encode_ms": _median_ms(enc), "decode_ms": _median_ms(dec),
            "bytes": int(statistics.median(len(b) for b in data))}


def network_macs(path: Path, inputs: dict[str, list[int]]) -> int:
    """Multiply-adds of one run of the ONNX model at ``path`` on zero inputs of these shapes, counted over its
    Conv, MatMul and Gemm nodes from the shapes of a real run (onnxruntime, every such output exposed)."""
    model = onnx.load(str(path))
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    nodes = [n for n in model.graph.node if n.op_type in ("Conv", "MatMul", "Gemm")]
    known = {o.name for o in model.graph.output}
    for n in nodes:
        if n.output[0] not in known:
            model.graph.output.append(onnx.ValueInfoProto(name=n.output[0]))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {}
    for i in session.get_inputs():
        dtype = np.uint8 if "uint8" in i.type else np.float32
        feed[i.name] = np.zeros(inputs[i.name], dtype)
    names = [o.name for o in session.get_outputs()]
    shapes = dict(zip(names, (o.shape for o in session.run(names, feed)), strict=True))
    total = 0
    for n in nodes:
        out = shapes[n.output[0]]
        if n.op_type == "Conv":
            total += int(np.prod(out)) * int(np.prod(weights[n.input[1]][1:]))  # per output: Cin/group x kH x kW
        else:
            inner = weights[n.input[1]][0] if n.input[1] in weights else None
            total += int(np.prod(out)) * int(inner or 0)
    return total


def _median_ms(seconds: list[float]) -> float:
    return round(1000 * statistics.median(seconds), 2)


if __name__ == "__main__":
    sys.exit(main())
