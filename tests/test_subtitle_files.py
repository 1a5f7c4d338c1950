"""Subtitle files for `affectgpt describe`: SRT and WebVTT read with webvtt-py (tags and entities removed), each clip's
subtitle the text of the cues that overlap it, NAME.srt / NAME.vtt beside a video picked up by its name, a CSV's empty
cell counted as given (no speech recognition for it); bad files named (malformed, not UTF-8, too large, a cue ending
before it starts), cues outside the clip left out with a warning (all outside: an empty subtitle, warned)."""

from __future__ import annotations

import json
import logging
import re

import pytest
from utils import make_clip

from affectgpt_hf.cli import main
from affectgpt_hf.inference import inputs
from affectgpt_hf.inference.inputs import Cue, cue_text, given_subtitles, read_cues

SRT = """1
00:00:00,200 --> 00:00:01,000
I told you <i>already</i>.

2
00:00:01,500 --> 00:00:02,600
Leave me &amp; my
friends alone.

3
00:00:03,000 --> 00:00:04,000
Too late.
"""
VTT = """WEBVTT

NOTE a comment block

intro
00:00.200 --> 00:01.000
I told you <b>already</b>.

00:01.500 --> 00:02.600 align:start
<v Bob>Leave me &amp; my
friends alone.

00:03.000 --> 00:04.000
Too late.
"""
INSIDE = "I told you already. Leave me & my friends alone."  # the cues overlapping a 2 s clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("subs") / "clip.mp4", seconds=2.0)


@pytest.mark.parametrize("kind,text", [("srt", SRT), ("vtt", VTT)])
def test_cues_that_overlap_the_clip_make_its_subtitle(kind, text, clip, tmp_path, caplog):
    file = tmp_path / f"talk.{kind}"
    file.write_text(text, encoding="utf-8")
    cues = read_cues(file)
    assert cues == [
        Cue(0.2, 1.0, "I told you already."),
        Cue(1.5, 2.6, "Leave me & my friends alone."),
        Cue(3.0, 4.0, "Too late."),
    ]
    with caplog.at_level(logging.WARNING):
        assert given_subtitles([clip], file) == [INSIDE]
    assert f"{file}: 1 of 3 cue(s) fall outside the clip" in caplog.text


def test_overlap_is_strict_at_the_clip_edges():
    cues = [Cue(0.0, 1.0, "a"), Cue(1.0, 2.0, "b"), Cue(2.0, 3.0, "c"), Cue(2.999, 3.5, "d")]
    assert cue_text(cues, 1.0, 2.0) == "b"  # touching cues end or start on the edge: not inside
    assert cue_text(cues, 0.999, 2.001) == "a b c"
    assert cue_text(cues, 3.0, 4.0) == "d"


def test_a_file_beside_the_video_is_picked_up_and_an_empty_cell_counts_as_given(tiny_model_dir, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    make_clip(folder / "beside.mp4", seconds=2.0, seed=1)
    (folder / "beside.srt").write_text(SRT, encoding="utf-8")
    make_clip(folder / "listed.mp4", seconds=2.0, seed=2)
    (folder / "listed.vtt").write_text(VTT, encoding="utf-8")  # the CSV's row wins over the file beside the video
    table = tmp_path / "subtitles.csv"
    table.write_text("name,subtitle\nlisted,\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    no_asr = str(tmp_path / "no-asr-model")  # loading it would fail: every clip has a subtitle, so it is never loaded
    assert main(["describe", str(folder), "--model", str(tiny_model_dir(seed=0)), "--subtitles", str(table),
                 "--asr", no_asr, "--max-new-tokens", "4", "--output", str(out)]) == 0  # fmt: skip
    rows = {row["name"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert (rows["beside"]["subtitle"], rows["beside"]["subtitle_source"]) == (INSIDE, "given")
    assert (rows["listed"]["subtitle"], rows["listed"]["subtitle_source"]) == ("", "given")


def test_bad_subtitle_files_are_named(clip, tmp_path, monkeypatch, caplog):
    cases = {
        "prose.srt": ("Just some text\nwithout any cue\n", "not a valid SRT .* numbered cues"),
        "times.srt": ("1\n00:00:0x,500 --> 00:00:02,000\nHello\n", "holds text but no cue could be read"),
        "backwards.srt": ("1\n00:00:05,000 --> 00:00:02,000\nHello\n", r"cue 1 ends \(00:00:02.000\) before it starts"),
        "header.vtt": (
            "00:00.500 --> 00:02.000\nno WEBVTT line\n",
            "is not a valid VTT file .* expected a 'WEBVTT' first",
        ),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            read_cues(tmp_path / name)
    latin = tmp_path / "latin.srt"
    latin.write_bytes("1\n00:00:00,500 --> 00:00:01,000\nJ'ai déjà dit non\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.srt is not utf-8 text \(byte 0xe9 at offset 38\); save it as UTF-8"):
        read_cues(latin)
    utf16 = tmp_path / "utf16.srt"
    utf16.write_text("1\n00:00:00,500 --> 00:00:01,000\nJ'ai déjà dit non\n", encoding="utf-16")
    assert read_cues(utf16) == [Cue(0.5, 1.0, "J'ai déjà dit non")]
    monkeypatch.setattr(inputs, "MAX_SUBTITLE_BYTES", 100)
    (tmp_path / "big.srt").write_text(SRT, encoding="utf-8")
    with pytest.raises(ValueError, match=r"big.srt is 0.0\d* MB; subtitle files are read up to 0.0001 MB"):
        read_cues(tmp_path / "big.srt")
    monkeypatch.undo()

    late = tmp_path / "late.srt"
    late.write_text("1\n00:00:05,000 --> 00:00:06,000\nAfter the clip.\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert given_subtitles([clip], late) == [""]  # an empty subtitle, with a warning
    assert re.search(r"1 of 1 cue\(s\) fall outside the clip \(0\.00-2\.\d+ s\)", caplog.text)
    assert "the clip's subtitle is empty" in caplog.text
    with pytest.raises(ValueError, match="times one video, and 2 clips were given"):
        given_subtitles([clip, clip], late)


def test_describe_names_a_bad_subtitle_file_before_any_model_loads(clip, tmp_path, capsys):
    bad = tmp_path / "prose.vtt"
    bad.write_text("WEBVTT\n\nno cues here\n", encoding="utf-8")
    assert main(["describe", str(clip), "--subtitles", str(bad), "--model", str(tmp_path / "no-model")]) == 2
    assert f"affectgpt describe: error: {bad} holds text but no cue could be read" in capsys.readouterr().err
