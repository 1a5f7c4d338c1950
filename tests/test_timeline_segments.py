"""inference/segments.py: how a long video is cut (speech turns, cues, fixed windows) and the valence rule, on times
alone; the media-reading half of the timeline is tests/test_timeline.py."""

from __future__ import annotations

import pytest

from affectgpt_hf.inference.segments import (
    MIN_CUE_SECONDS,
    SegmentRules,
    Timed,
    cue_segments,
    fixed_segments,
    speech_segments,
    text_over,
)
from affectgpt_hf.inference.timeline_outputs import clock, valence

RULES = SegmentRules()  # min 2 s, max 16 s, merge gap 0.5 s, window 4 s


def test_speech_turns_are_merged_split_and_widened_to_mers_lengths():
    # a pause of 0.3 s joins; 0.9 s separates
    assert speech_segments([(1.0, 2.5), (2.8, 4.0), (4.9, 7.5)], 20.0, RULES) == [(1.0, 4.0), (4.9, 7.5)]
    # a join that would pass max_seconds is not made
    assert speech_segments([(0.0, 10.0), (10.2, 18.0)], 20.0, RULES) == [(0.0, 10.0), (10.2, 18.0)]
    # 40 s of speech: three equal parts of 13.33 s (each within [max / 2, max])
    parts = speech_segments([(0.0, 40.0)], 40.0, RULES)
    assert [round(e - s, 2) for s, e in parts] == [13.33, 13.33, 13.33] and parts[-1][1] == 40.0
    # a cut near a transcript's sentence end is taken instead of the equal split
    assert speech_segments([(0.0, 30.0)], 30.0, RULES, cuts=[5.0, 14.5, 29.5]) == [(0.0, 14.5), (14.5, 30.0)]
    # ... as long as the turn still splits into as few parts (a cut at 12 s would leave 18 s: three parts)
    assert speech_segments([(0.0, 30.0)], 30.0, RULES, cuts=[12.0]) == [(0.0, 15.0), (15.0, 30.0)]
    # a transcript's sentence end in a short pause keeps the turns apart (ASR refines the turns)
    assert speech_segments([(1.0, 4.0), (4.3, 7.0)], 20.0, RULES) == [(1.0, 7.0)]
    assert speech_segments([(1.0, 4.0), (4.3, 7.0)], 20.0, RULES, cuts=[4.1]) == [(1.0, 4.0), (4.3, 7.0)]
    assert speech_segments([(1.0, 4.0), (4.3, 7.0)], 20.0, RULES, cuts=[6.0]) == [(1.0, 7.0)]  # not in the pause
    # a 0.5 s turn is widened evenly into its silence; at the video's start, the rest goes to the right
    assert speech_segments([(5.0, 5.5)], 20.0, RULES) == [(4.25, 6.25)]
    assert speech_segments([(0.2, 0.7)], 20.0, RULES) == [(0.0, 2.0)]
    # between two turns it takes only the free time, and the turns never overlap
    assert speech_segments([(0.0, 4.0), (4.6, 5.0), (5.7, 9.0)], 20.0, RULES) == [
        (0.0, 4.0),
        (4.0, 5.7),
        (5.7, 9.0),
    ]
    # spans past the video are cut at its end; nothing at all: no segments
    assert speech_segments([(18.0, 25.0)], 20.0, RULES) == [(18.0, 20.0)]
    assert speech_segments([], 20.0, RULES) == []


def test_rules_refuse_lengths_that_cannot_hold():
    with pytest.raises(ValueError, match="expected 0 < min <= max / 2"):
        SegmentRules(min_seconds=9, max_seconds=16)
    with pytest.raises(ValueError, match="--merge-gap -1"):
        SegmentRules(merge_gap=-1)
    with pytest.raises(ValueError, match="--window 0"):
        SegmentRules(window=0)


def test_fixed_windows_at_the_videos_end():
    # side by side; the last ends at the video's end, joined to the one before when under half a window
    assert fixed_segments(12.0, RULES) == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]
    assert fixed_segments(13.0, RULES) == [(0.0, 4.0), (4.0, 8.0), (8.0, 13.0)]
    assert fixed_segments(14.5, RULES) == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0), (12.0, 14.5)]
    # overlapping windows stop at the first that reaches the end
    assert fixed_segments(9.0, SegmentRules(window=4, hop=2)) == [(0.0, 4.0), (2.0, 6.0), (4.0, 8.0), (6.0, 9.0)]
    # a video shorter than a window is one segment; windows with gaps between them
    assert fixed_segments(3.0, RULES) == [(0.0, 3.0)]
    assert fixed_segments(25.0, SegmentRules(window=2, hop=10)) == [(0.0, 2.0), (10.0, 12.0), (20.0, 22.0)]


def test_cues_outside_overlapping_and_short_are_handled_as_the_help_says():
    cues = [
        Timed(0.0, 2.0, "first"),
        Timed(1.5, 3.0, "overlaps it"),
        Timed(4.0, 4.0 + MIN_CUE_SECONDS / 2, "blink"),
        Timed(5.0, 7.0, "alone"),
        Timed(9.0, 11.0, "runs past the end"),
        Timed(12.0, 13.0, "after the end"),
    ]
    plan = cue_segments(cues, duration=10.0, source="talk.srt")
    assert [(s.start, s.end, s.subtitle) for s in plan.segments] == [
        (0.0, 3.0, "first overlaps it"),
        (5.0, 7.0, "alone"),
        (9.0, 10.0, "runs past the end"),
    ]
    assert [item["reason"] for item in plan.skipped] == [
        "cue shorter than 0.2 s",
        "cue starts after the video's end (10.000 s)",
    ]
    assert plan.notes == [
        "talk.srt: 1 group(s) of overlapping cues were joined into one segment each",
        "talk.srt: 2 cue(s) left out (see the skipped list)",
    ]
    # cues in any order come out in time order; touching cues stay apart
    touching = cue_segments([Timed(2.0, 4.0, "b"), Timed(0.0, 2.0, "a")], 10.0)
    assert [(s.start, s.subtitle) for s in touching.segments] == [(0.0, "a"), (2.0, "b")]


def test_text_over_joins_what_overlaps_like_describe_reads_cues():
    pieces = [Timed(0.0, 2.0, "a"), Timed(2.0, 4.0, "b"), Timed(3.5, 6.0, "c")]
    assert text_over(pieces, 2.0, 4.0) == "b c"  # a touches at 2.0: out
    assert text_over(pieces, 6.0, 8.0) == ""


def test_valence_is_the_mean_label_polarity_of_unibenchs_sentiment_mapping():
    from affectgpt_hf.unibench import get_extractor

    lexicon = get_extractor(None)
    assert valence(["happy"], lexicon.polarity) == 1.0
    assert valence(["sad", "angry"], lexicon.polarity) == -1.0
    assert valence(["happy", "sad"], lexicon.polarity) == 0.0
    assert valence(["joyful", "excited", "worried"], lexicon.polarity) == pytest.approx(1 / 3, abs=1e-4)
    assert valence(["qwertyuiop"], lexicon.polarity) == 0.0  # no wheel reaches it
    assert valence([], lexicon.polarity) == 0.0
    for labels in (["happy"], ["sad", "angry"], ["happy", "sad"], ["joyful", "excited", "worried"], ["surprised"]):
        value = valence(labels, lexicon.polarity)
        sign = "positive" if value > 0 else "negative" if value < 0 else "neutral"
        assert lexicon.extract_sentiment([labels]) == [sign], labels  # the sentiment metrics' own decision


def test_clock_is_mm_ss_then_h_mm_ss():
    assert [clock(s) for s in (0, 59.99, 61, 3599, 3600, 3725)] == ["00:00", "00:59", "01:01", "59:59", "1:00:00",
                                                                    "1:02:05"]  # fmt: skip


def test_summary_shares_moments_and_problems():
    """timeline.md: share of described time per label, the strongest moments first (the earliest among equals), and
    what was left out or failed, in time order."""
    from affectgpt_hf.inference.timeline_outputs import summary

    def row(start, end, labels, value, error=None):
        return {"start": start, "end": end, "labels": labels, "valence": value, "subtitle": "", "error": error}

    failed = row(12, 14, [], None, error="the audio at 12.00-13.00 s could not be decoded")
    rows = [row(0, 4, ["sad"], -1.0), row(4, 6, ["happy"], 1.0), row(6, 10, ["sad", "worried"], -1.0),
            row(10, 12, ["calm"], 0.5), failed]  # fmt: skip
    skipped = [{"start": 20.0, "end": 20.1, "reason": "cue shorter than 0.2 s"}]
    text = summary(rows, {"video": "v.mp4", "duration": 30.0, "skipped": skipped}, moments=2)
    assert "| sad | 8.0 | 67% |" in text and "| happy | 2.0 | 17% |" in text  # of 12 s described
    positive = [line for line in text.splitlines() if line.startswith("- most positive")]
    negative = [line for line in text.splitlines() if line.startswith("- most negative")]
    assert [line.split(",")[0] for line in positive] == ["- most positive: 00:04-00:06", "- most positive: 00:10-00:12"]
    assert [line.split(",")[0] for line in negative] == ["- most negative: 00:00-00:04", "- most negative: 00:06-00:10"]
    problems = text.split("## Left out or failed")[1]
    assert problems.index("00:12-00:14 (12.00-14.00 s): failed: the audio") < problems.index("00:20-00:20")
