"""The Space under concurrent visitors: requests per second with 1 and 8 gradio_client clients, its requests described
one at a time (``max_batch_size=1``, as before batching) and in batches of up to 8, in one run, alternating.

    .venv/bin/python perf/bench_space.py [--requests 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("AFFECTGPT_ASR", "none")


def serve(analyzer, batch: int):
    from affectgpt_hf.apps.arguments import Limits
    from affectgpt_hf.apps.demo import build_demo

    demo = build_demo(analyzer=analyzer, limits=Limits(), max_batch_size=batch)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return demo, f"http://127.0.0.1:{port}/"


def requests_per_second(url: str, clips: list[Path], clients: int) -> float:
    from gradio_client import Client, handle_file

    callers = [Client(url, verbose=False) for _ in range(clients)]
    share = [clips[i::clients] for i in range(clients)]

    def run(caller, mine) -> None:
        for clip in mine:
            caller.predict(handle_file(str(clip)), None, "I told you.", "ov_labels", api_name="/analyze")

    threads = [threading.Thread(target=run, args=pair) for pair in zip(callers, share, strict=True)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(clips) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from utils import make_clip, save_tiny_folder

    from affectgpt_hf import AffectGPTProcessor
    from affectgpt_hf.apps.demo import Analyzer

    work = Path(tempfile.mkdtemp(prefix="bench-space-"))
    os.environ["GRADIO_TEMP_DIR"] = str(work / "gradio")
    folder = save_tiny_folder(work / "model", AffectGPTProcessor.from_pretrained(Path("hub_configs/tiny")), 0, True)
    analyzer = Analyzer(folder, device="cpu", max_new_tokens=16)
    clips = [make_clip(work / f"c{i}.mp4", seconds=3.0, size=(48, 64), seed=i) for i in range(args.requests)]
    rows = []
    for round_ in range(1, args.rounds + 1):
        for batch in (1, 8):
            demo, url = serve(analyzer, batch)
            try:
                rates = [requests_per_second(url, clips, clients) for clients in (1, 8)]
            finally:
                demo.close()
            rows.append((round_, batch, *rates, demo.batcher.sizes))
    print("| round | max batch | 1 client req/s | 8 clients req/s | batch sizes seen (8 clients) |")
    print("| --- | --- | --- | --- | --- |")
    for round_, batch, one, eight, sizes in rows:
        seen = sorted(set(sizes[-max(1, args.requests) :]))
        print(f"| {round_} | {batch} | {one:.2f} | {eight:.2f} | {seen} |")


if __name__ == "__main__":
    main()
