"""Video: flicker (warping error) and speed of ``gramstyle video``, on clips whose flow is known.

Makes a pan and a zoom over a photo (``gramstyle.video.synthetic``: 24000/1001 fps, a
sine tone), stylises each with the temporal weight 0 (every frame on its own) and
others, and reports per run:

- ``E_warp`` (Lai et al. 2018) with the *true* flow and mask of the clip, and with DIS
  flow + Ruder's masks estimated on the input frames (what a real clip would give);
- the neutral judge's style and content distances (``benchmarks/judge.py``), mean over
  frames, and their ratio to the independent frames'; the style distance also as the
  mean over `--judge-shifts` crops shifted by 1 px steps (the judge aliases fine texture);
- time: the first frame, the median later frame (flow included), and wall per frame.

Then AdaIN at ``--adain-size`` px: the median time per video frame against one
single-image AdaIN call (``gramstyle.stylize(..., method="adain")``, network loaded).
Prints markdown tables and writes ``video.json`` and a few PNG frames to ``--out``.

    python benchmarks/video.py --out bench_video
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "images"


def frames_of(records, steps: list[int] | None = None) -> tuple[list, list[float], float, object]:
    """Each frame's picture and seconds, the wall time and the last record; ``steps``
    (if given) receives each frame's optimiser steps, all scales together."""
    from gramstyle.video import FrameDone, FrameStep, VideoDone

    images, seconds, done, n = [], [], None, 0
    t0 = time.perf_counter()
    for r in records:
        if isinstance(r, FrameStep):
            n += 1
        elif isinstance(r, FrameDone):
            images.append(r.image)
            seconds.append(r.seconds)
            if steps is not None:
                steps.append(n)
            n = 0
        elif isinstance(r, VideoDone):
            done = r
    return images, seconds, time.perf_counter() - t0, done


def e_warp_true(images, motion) -> float:
    from gramstyle.video.temporal import WarpingError

    acc = WarpingError()
    for t in range(len(images) - 1):
        acc.add(images[t], images[t + 1], motion.flow(t), motion.mask(t))
    return acc.value


def e_warp_dis(images, inputs) -> float:
    from gramstyle.video.flow import dis_flow, reliable
    from gramstyle.video.temporal import WarpingError

    acc = WarpingError()
    for t in range(len(images) - 1):
        fw = dis_flow(inputs[t], inputs[t + 1])
        acc.add(images[t], images[t + 1], fw, reliable(fw, dis_flow(inputs[t + 1], inputs[t])))
    return acc.value


def adain_video(args: argparse.Namespace, method: str) -> dict:
    """VideoSettings fields the command line sets for AdaIN runs."""
    if method != "adain" or not args.adain_long_term:
        return {}
    return {"long_term": tuple(int(v) for v in args.adain_long_term.split(","))}


def parse_weight(token: str) -> tuple[float, bool]:
    """``"0.5"`` -> (0.5, aligned); ``"0.5/noalign"`` -> (0.5, without --grid-align)."""
    w, _, flag = token.partition("/")
    return float(w), flag != "noalign"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("bench_video"))
    p.add_argument("--content", default=str(SHARED / "content" / "tubingen.jpg"))
    p.add_argument("--style", default=str(SHARED / "style" / "starry_night.jpg"))
    p.add_argument("--clips", default="pan,zoom")
    p.add_argument("--methods", default="adain,gatys")
    p.add_argument("--adain-frames", type=int, default=24)
    p.add_argument("--adain-clip-size", default="144x256", help="HxW of the AdaIN clips")
    p.add_argument(
        "--adain-weights",
        default="0,0.5,1,2,4",
        help="temporal weights; W/noalign runs W without --grid-align",
    )
    p.add_argument(
        "--adain-long-term",
        default="",
        help="AdaIN's --long-term offsets, e.g. 1 (default: the tool's)",
    )
    p.add_argument("--gatys-frames", type=int, default=6)
    p.add_argument("--gatys-clip-size", default="108x192", help="HxW of the Gatys clips")
    p.add_argument("--gatys-weights", default="0,30,100")
    p.add_argument(
        "--gatys-steps",
        type=int,
        default=0,
        help="first-frame steps at one scale, to make a quick run (0 = the defaults)",
    )
    p.add_argument(
        "--frame-steps",
        type=int,
        default=None,
        help="--frame-steps for the Gatys runs (default: VideoSettings' own)",
    )
    p.add_argument("--adain-size", type=int, default=512, help="AdaIN timing size (0 = skip)")
    p.add_argument("--timing-frames", type=int, default=12)
    p.add_argument(
        "--judge-shifts",
        type=int,
        default=8,
        help="also score style as the mean over this many shifted crops",
    )
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    import gramstyle
    from benchmarks.judge import Judge
    from gramstyle.image import load_image, save_image
    from gramstyle.video import VideoSettings, stylize_video
    from gramstyle.video import probe as vprobe
    from gramstyle.video import read as vread
    from gramstyle.video.synthetic import make_clip

    args.out.mkdir(parents=True, exist_ok=True)
    photo = load_image(args.content, 1024)
    style = load_image(args.style, None)
    judge = Judge()
    st = gramstyle.Stylizer()
    rows = []
    for method in filter(None, args.methods.split(",")):
        hw = getattr(args, f"{method}_clip_size")
        H, W = (int(v) for v in hw.split("x"))
        n = getattr(args, f"{method}_frames")
        weights = [parse_weight(w) for w in getattr(args, f"{method}_weights").split(",")]
        for kind in filter(None, args.clips.split(",")):
            clip = args.out / f"{kind}_{H}x{W}.mp4"
            motion = make_clip(clip, photo, kind, frames=n, size=(H, W))
            inputs = [f.image for f in vread.read_frames(vprobe.probe(clip), (H, W))]
            base = None
            quick = (
                {"steps": args.gatys_steps, "min_size": max(H, W)}
                if method == "gatys" and args.gatys_steps
                else {}
            )
            for w, align in weights:
                tag = f"w{w:g}" + ("" if align else "-noalign")
                out = args.out / f"{method}_{kind}_{tag}.mp4"
                more = adain_video(args, method)
                if method == "gatys" and args.frame_steps is not None:
                    more["frame_steps"] = args.frame_steps
                vs = VideoSettings(temporal_weight=w, grid_align=align, **more)
                recs = stylize_video(
                    clip,
                    style,
                    out,
                    size=max(H, W),
                    method=method,
                    overwrite=True,
                    stylizer=st,
                    video=vs,
                    **quick,
                )
                steps: list[int] = []
                images, secs, wall, _ = frames_of(recs, steps)
                judged = [judge.scores(x, c, style) for x, c in zip(images, inputs, strict=True)]
                shifted = [
                    judge.scores(x, c, style, shifts=args.judge_shifts)
                    for x, c in zip(images, inputs, strict=True)
                ]
                row = {
                    "method": method,
                    "frame_steps": vs.frame_steps,
                    "clip": kind,
                    "size": f"{W}x{H}",
                    "frames": len(images),
                    "W": w,
                    "align": align,
                    "e_true": e_warp_true(images, motion),
                    "e_dis": e_warp_dis(images, inputs),
                    "style": statistics.mean(j["style"] for j in judged),
                    "content": statistics.mean(j["content"] for j in judged),
                    "style_shifted": statistics.mean(j["style"] for j in shifted),
                    "first_s": secs[0],
                    "later_s": statistics.median(secs[1:]),
                    "later_all_s": secs[1:],
                    "first_steps": steps[0],
                    "later_steps": steps[1:],
                    "wall_per_frame": wall / len(images),
                }
                base = base or row
                if base["W"] == 0 and len(base["later_all_s"]) > 0:
                    # W = 0 makes every frame a still: their median is one still's time
                    # at this size (the first frame also warms the process up).
                    row["still_s"] = base["later_s"]
                    row["later_vs_still"] = row["later_s"] / base["later_s"]
                row["e_ratio"] = row["e_true"] / base["e_true"]
                row["style_ratio"] = row["style"] / base["style"]
                row["shifted_ratio"] = row["style_shifted"] / base["style_shifted"]
                rows.append(row)
                for t in (0, n // 2, n - 1):
                    save_image(
                        images[t], args.out / f"{method}_{kind}_{tag}_f{t:02d}.png", overwrite=True
                    )
                print(json.dumps(row), file=sys.stderr, flush=True)

    timing = {}
    if args.adain_size:  # independent of --methods, so timing can run on its own
        H, W = round(args.adain_size * 9 / 16) // 2 * 2, args.adain_size
        clip = args.out / f"pan_{H}x{W}.mp4"
        make_clip(clip, photo, "pan", frames=args.timing_frames, size=(H, W))
        frame0 = next(vread.read_frames(vprobe.probe(clip), (H, W))).image
        single = []
        for _ in range(args.repeats + 1):  # the first call loads the decoder: not counted
            t0 = time.perf_counter()
            gramstyle.stylize(frame0, style, method="adain", size=args.adain_size)
            single.append(time.perf_counter() - t0)
        single = single[1:]
        out = args.out / f"adain_timing_{W}.mp4"
        recs = stylize_video(
            clip,
            style,
            out,
            size=args.adain_size,
            method="adain",
            overwrite=True,
            stylizer=st,
            video=VideoSettings(**adain_video(args, "adain")),
        )
        images, secs, wall, _ = frames_of(recs)
        timing = {
            "size": f"{W}x{H}",
            "single_median": statistics.median(single),
            "frame_median": statistics.median(secs[1:]),
            "wall_per_frame": wall / len(images),
            "frames": len(images),
        }
        print(json.dumps(timing), file=sys.stderr, flush=True)

    (args.out / "video.json").write_text(
        json.dumps({"rows": rows, "adain_timing": timing}, indent=1)
    )
    from benchmarks import record

    record.write(
        "video",
        {"options": vars(args), "rows": rows, "adain_timing": timing},
        script=__file__,
        argv=argv,
    )
    print(
        "| method | clip | size | frames | W | E_warp (true flow) | x independent "
        "| E_warp (DIS) | style dist | x independent | style dist, shift-averaged "
        "| x independent | content dist | first frame s | later frame s (median) "
        "| wall s/frame |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        w_text = f"{r['W']:g}" + (
            "" if r.get("align", True) or r["method"] != "adain" else " (no grid-align)"
        )
        print(
            f"| {r['method']} | {r['clip']} | {r['size']} | {r['frames']} | {w_text} "
            f"| {r['e_true']:.5f} | {r['e_ratio']:.2f} | {r['e_dis']:.5f} | {r['style']:.1f} "
            f"| {r['style_ratio']:.2f} | {r['style_shifted']:.1f} | {r['shifted_ratio']:.2f} "
            f"| {r['content']:.1f} | {r['first_s']:.2f} "
            f"| {r['later_s']:.2f} | {r['wall_per_frame']:.2f} |"
        )
    if timing:
        print()
        print(
            "| AdaIN at | single-image call, median s | video frame, median s | ratio "
            "| video wall s/frame (decode, PNG, encode included) |"
        )
        print("|---|---|---|---|---|")
        print(
            f"| {timing['size']} | {timing['single_median']:.3f} | {timing['frame_median']:.3f} "
            f"| {timing['frame_median'] / timing['single_median']:.2f} "
            f"| {timing['wall_per_frame']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
