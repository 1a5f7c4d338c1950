"""Upstream release layouts: where each MER-Caption / MER-UniBench set keeps its videos, audio, faces and tables.

Every fact here was read from upstream AffectGPT at fffca79 (``config.py`` and the dataset classes in
``my_affectgpt/datasets/datasets/*.py``); a layout is data, the readers in ``releases.py`` interpret it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Integer label -> name, as upstream's module-level ``emos`` lists (iemocap.py, meld.py).
IEMOCAP_FOUR_EMOTIONS = ("happy", "sad", "neutral", "anger")
MELD_EMOTIONS = ("anger", "joy", "sadness", "neutral", "disgust", "fear", "surprise")


FACE_FILES = {"flat": "{name}.npy", "nested": "{name}/{name}.npy"}
"""The two layouts of OpenFace crop files in a release's ``openface_face`` folder (``faces extract --layout``)."""

TASKS = ("caption", "ov", "basic", "sentiment")
"""What a set's labels are: ``caption`` (description + OV labels, the training sets), ``ov`` (open-vocabulary labels),
``basic`` (one basic emotion out of a fixed list) or ``sentiment`` (a valence). MER-UniBench scores each kind in its
own way (unibench.benchsets)."""

ENGLISH_AND_CHINESE = {"subtitle_en": "english", "subtitle_zh": "chinese"}  # our column -> upstream CSV column


@dataclass(frozen=True)
class ReleaseLayout:
    """One upstream set on disk. The defaults are those of most MER-UniBench test sets.

    ``task`` is one of :data:`TASKS`. ``splits`` maps a split to where its names come from: a key of the label npz,
    ``"session5"`` / ``"sessions1-4"`` (IEMOCAP's ``whole_corpus`` split by session, as upstream), or ``"csv"`` (names
    of the annotation table).
    """

    name: str  # our config name
    upstream_key: str  # key in upstream config.DATA_DIR
    folder: str  # upstream's folder name under ../dataset/
    task: str
    label_file: str | None  # None: the release has none; the user passes the annotations CSV (mer_caption)
    description: str
    video_dir: str = "subvideo"
    audio_dir: str = "subaudio"
    face_pattern: str = "openface_face/" + FACE_FILES["flat"]  # relative to the release folder, with {name}
    video_exts: tuple[str, ...] = (".mp4",)
    subtitle_csv: str | None = "transcription-engchi-polish.csv"
    subtitle_columns: dict[str, str] = field(default_factory=lambda: dict(ENGLISH_AND_CHINESE))
    model_subtitle: str = "subtitle_en"  # which of subtitle_en / subtitle_zh upstream feeds the model
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train_corpus", "test": "test_corpus"})
    default_splits: tuple[str, ...] = ("test",)
    emotion_names: tuple[str, ...] | None = None  # integer emo -> name
    test_count: int | None = None  # upstream's assert on the test names
    extra: dict[str, str] = field(default_factory=dict)
    names_from_subtitles: bool = False  # the split's names are the subtitle CSV's (OV-MERD+), each needs a label row

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"layout {self.name}: task {self.task!r}; expected one of {TASKS}")

    @property
    def needs_annotations(self) -> bool:
        """Whether the labels come from the user's annotations CSV (``annotations=``), the release having none."""
        return self.label_file is None


# IEMOCAP's test split: Session 5 of `whole_corpus`, told by the 5th character of the name (upstream's split).
IEMOCAP_SPLITS = {"train": "sessions1-4", "test": "session5"}

_MER2025 = dict(
    upstream_key="MERCaptionPlus",
    folder="mer2025-dataset",
    task="caption",
    video_dir="video",
    audio_dir="audio",
    face_pattern="openface_face/" + FACE_FILES["nested"],
    subtitle_csv="subtitle_chieng.csv",
    splits={"train": "csv"},
    default_splits=("train",),
)
_MER_TEST = dict(video_dir="video", audio_dir="audio", video_exts=(".mp4", ".avi"), label_file="label-6way.npz")
_MER_TEST["splits"] = {"train": "train_corpus", "test": "test1_corpus"}

LAYOUTS: dict[str, ReleaseLayout] = {
    layout.name: layout
    for layout in (
        ReleaseLayout(
            name="mer_caption_plus",
            **_MER2025,
            label_file="track2_train_mercaptionplus.csv",
            description="MER-Caption+ (31,327 clips after two-level filtering), the set AffectGPT was trained on.",
            extra={"description_file": "track3_train_mercaptionplus.csv"},
        ),
        ReleaseLayout(
            name="mer_caption",
            **_MER2025,
            label_file=None,  # upstream ships no loader and no fixed name: annotations= / --annotations
            description="MER-Caption (115,595 clips, before filtering); annotation CSV given by the user.",
        ),
        ReleaseLayout(
            name="ov_merd_plus",
            upstream_key="OVMERDPlus",
            folder="ovmerdplus-process",
            task="ov",
            video_dir="video",
            audio_dir="audio",  # faces: flat, upstream's "dataset-copy lost a sub-folder"
            subtitle_csv="subtitle_eng.csv",
            subtitle_columns={"subtitle_en": "sentence"},
            label_file="ovlabel.csv",
            splits={"test": "csv"},
            test_count=532,
            description="OV-MERD+ (532 clips), open-vocabulary labels.",
            names_from_subtitles=True,  # upstream's test names come from subtitle_eng.csv
        ),
        ReleaseLayout(
            name="mer2023",
            upstream_key="MER2023",
            folder="mer2023-dataset-process",
            task="basic",
            **_MER_TEST,
            test_count=411,
            description="MER2023 MER-MULTI test (test1_corpus), 6 emotions.",
        ),
        ReleaseLayout(
            name="mer2024",
            upstream_key="MER2024",
            folder="mer2024-dataset-process",
            task="basic",
            **_MER_TEST,
            subtitle_csv="transcription_merge.csv",
            model_subtitle="subtitle_zh",  # upstream's MER2024 loader reads the `chinese` column
            test_count=1169,
            description="MER2024 MER-SEMI test (test1_corpus), 6 emotions; upstream feeds the Chinese subtitle.",
        ),
        ReleaseLayout(
            name="iemocap_four",
            upstream_key="IEMOCAPFour",
            folder="iemocap-process",
            task="basic",
            video_dir="subvideo-tgt",
            video_exts=(".avi",),
            label_file="label_4way.npz",
            splits=IEMOCAP_SPLITS,
            emotion_names=IEMOCAP_FOUR_EMOTIONS,
            test_count=1241,
            description="IEMOCAP four-class, Session 5 as test (whole_corpus split by the name's 5th character).",
        ),
        ReleaseLayout(
            name="meld",
            upstream_key="MELD",
            folder="meld-process",
            task="basic",
            label_file="label.npz",
            emotion_names=MELD_EMOTIONS,
            test_count=2610,
            description="MELD test, 7 emotions (integer labels mapped to names as upstream's idx2emo).",
        ),
        ReleaseLayout(
            name="cmu_mosi",
            upstream_key="CMUMOSI",
            folder="cmumosi-process",
            task="sentiment",
            label_file="label.npz",
            test_count=686,
            description="CMU-MOSI test, valence in [-3, 3].",
        ),
        ReleaseLayout(
            name="cmu_mosei",
            upstream_key="CMUMOSEI",
            folder="cmumosei-process",
            task="sentiment",
            video_dir="subvideo_new",
            label_file="label.npz",
            test_count=4659,
            description="CMU-MOSEI test, valence in [-3, 3].",
        ),
        ReleaseLayout(
            name="sims",
            upstream_key="SIMS",
            folder="sims-process",
            task="sentiment",
            video_dir="video",
            audio_dir="audio",
            label_file="label.npz",
            test_count=457,
            description="CH-SIMS test, valence in [-1, 1]; upstream feeds the English subtitle.",
        ),
        ReleaseLayout(
            name="sims_v2",
            upstream_key="SIMSv2",
            folder="simsv2-process",
            task="sentiment",
            video_dir="video_new",
            audio_dir="audio",
            label_file="label.npz",
            test_count=1034,
            description="CH-SIMS v2 test, valence in [-1, 1]; upstream feeds the English subtitle.",
        ),
    )
}

CAPTION_CONFIGS = ("mer_caption_plus", "mer_caption")
UNIBENCH_CONFIGS = (
    "ov_merd_plus",
    "mer2023",
    "mer2024",
    "iemocap_four",
    "meld",
    "cmu_mosi",
    "cmu_mosei",
    "sims",
    "sims_v2",
)

# The subtitle column upstream's loader feeds the model, per config (the `subtitle` column holds that text).
MODEL_SUBTITLE: dict[str, str] = {name: layout.model_subtitle for name, layout in LAYOUTS.items()}

_ALIASES = {layout.upstream_key.lower(): layout.name for layout in LAYOUTS.values() if layout.name != "mer_caption"}
_ALIASES.update(
    {"iemocap": "iemocap_four", "simsv2": "sims_v2", "ovmerdplus": "ov_merd_plus", "mercaption": "mer_caption"}
)


def get_layout(name: str) -> ReleaseLayout:
    """The layout of a config name, or of an upstream key (``MER2023``, ``IEMOCAPFour``, ``SIMSv2``, ...)."""
    key = name.strip()
    if key in LAYOUTS:
        return LAYOUTS[key]
    alias = _ALIASES.get(key.lower().replace("-", "").replace("_", ""))
    if alias is None:
        raise ValueError(f"dataset {name!r} is unknown; expected one of {sorted(LAYOUTS)} (or an upstream key)")
    return LAYOUTS[alias]
