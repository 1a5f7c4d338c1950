"""Upstream release layouts: where each MER-Caption / MER-UniBench set keeps its videos, audio, faces and tables.

Every fact here was read from upstream AffectGPT at fffca79 (``config.py`` and the dataset classes in
``my_affectgpt/datasets/datasets/*.py``); a layout is data, the readers in ``releases.py`` interpret it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Integer label -> name, as upstream's module-level ``emos`` lists (iemocap.py, meld.py).
IEMOCAP_FOUR_EMOTIONS = ("happy", "sad", "neutral", "anger")
MELD_EMOTIONS = ("anger", "joy", "sadness", "neutral", "disgust", "fear", "surprise")


@dataclass(frozen=True)
class ReleaseLayout:
    """One upstream set on disk.

    ``task`` is ``caption`` (description + OV labels, the training sets), ``ov`` (OV labels only), ``emotion``
    (one discrete label) or ``sentiment`` (a valence). ``splits`` maps a split to where its names come from: a key of
    the label npz, ``"session5"`` / ``"sessions1-4"`` (IEMOCAP's ``whole_corpus`` split by session, as upstream), or
    ``"csv"`` (names of the annotation table).
    """

    name: str  # our config name
    upstream_key: str  # key in upstream config.DATA_DIR
    folder: str  # upstream's folder name under ../dataset/
    task: str
    video_dir: str
    audio_dir: str
    face_pattern: str  # relative to the release folder, with {name}
    video_exts: tuple[str, ...]
    subtitle_csv: str | None
    subtitle_columns: dict[str, str]  # our column -> upstream CSV column
    model_subtitle: str  # which of subtitle_en / subtitle_zh upstream feeds the model
    label_file: str | None  # None: the release has none; the user passes the annotations CSV (mer_caption)
    splits: dict[str, str]
    default_splits: tuple[str, ...]
    emotion_names: tuple[str, ...] | None = None  # integer emo -> name
    test_count: int | None = None  # upstream's assert on the test names
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    names_from_subtitles: bool = False  # the split's names are the subtitle CSV's (OV-MERD+), each needs a label row

    @property
    def needs_annotations(self) -> bool:
        """Whether the labels come from the user's annotations CSV (``annotations=``), the release having none."""
        return self.label_file is None


_MER2025_SUBTITLES = {"subtitle_en": "english", "subtitle_zh": "chinese"}
_ENGCHI = {"subtitle_en": "english", "subtitle_zh": "chinese"}
FACE_FILES = {"flat": "{name}.npy", "nested": "{name}/{name}.npy"}
"""The two layouts of OpenFace crop files in a release's ``openface_face`` folder (``faces extract --layout``)."""
_FLAT_FACE = "openface_face/" + FACE_FILES["flat"]
_NESTED_FACE = "openface_face/" + FACE_FILES["nested"]

LAYOUTS: dict[str, ReleaseLayout] = {
    layout.name: layout
    for layout in (
        ReleaseLayout(
            name="mer_caption_plus",
            upstream_key="MERCaptionPlus",
            folder="mer2025-dataset",
            task="caption",
            video_dir="video",
            audio_dir="audio",
            face_pattern=_NESTED_FACE,
            video_exts=(".mp4",),
            subtitle_csv="subtitle_chieng.csv",
            subtitle_columns=_MER2025_SUBTITLES,
            model_subtitle="subtitle_en",
            label_file="track2_train_mercaptionplus.csv",
            splits={"train": "csv"},
            default_splits=("train",),
            description="MER-Caption+ (31,327 clips after two-level filtering), the set AffectGPT was trained on.",
            extra={"description_file": "track3_train_mercaptionplus.csv"},
        ),
        ReleaseLayout(
            name="mer_caption",
            upstream_key="MERCaptionPlus",
            folder="mer2025-dataset",
            task="caption",
            video_dir="video",
            audio_dir="audio",
            face_pattern=_NESTED_FACE,
            video_exts=(".mp4",),
            subtitle_csv="subtitle_chieng.csv",
            subtitle_columns=_MER2025_SUBTITLES,
            model_subtitle="subtitle_en",
            label_file=None,  # upstream ships no loader and no fixed name: annotations= / --annotations
            splits={"train": "csv"},
            default_splits=("train",),
            description="MER-Caption (115,595 clips, before filtering); annotation CSV given by the user.",
        ),
        ReleaseLayout(
            name="ov_merd_plus",
            upstream_key="OVMERDPlus",
            folder="ovmerdplus-process",
            task="ov",
            video_dir="video",
            audio_dir="audio",
            face_pattern=_FLAT_FACE,  # upstream: "dataset-copy lost a sub-folder"
            video_exts=(".mp4",),
            subtitle_csv="subtitle_eng.csv",
            subtitle_columns={"subtitle_en": "sentence"},
            model_subtitle="subtitle_en",
            label_file="ovlabel.csv",
            splits={"test": "csv"},
            default_splits=("test",),
            test_count=532,
            description="OV-MERD+ (532 clips), open-vocabulary labels.",
            names_from_subtitles=True,  # upstream's test names come from subtitle_eng.csv
        ),
        ReleaseLayout(
            name="mer2023",
            upstream_key="MER2023",
            folder="mer2023-dataset-process",
            task="emotion",
            video_dir="video",
            audio_dir="audio",
            face_pattern=_FLAT_FACE,
            video_exts=(".mp4", ".avi"),
            subtitle_csv="transcription-engchi-polish.csv",
            subtitle_columns=_ENGCHI,
            model_subtitle="subtitle_en",
            label_file="label-6way.npz",
            splits={"train": "train_corpus", "test": "test1_corpus"},
            default_splits=("test",),
            test_count=411,
            description="MER2023 MER-MULTI test (test1_corpus), 6 emotions.",
        ),
        ReleaseLayout(
            name="mer2024",
            upstream_key="MER2024",
            folder="mer2024-dataset-process",
            task="emotion",
            video_dir="video",
            audio_dir="audio",
            face_pattern=_FLAT_FACE,
            video_exts=(".mp4", ".avi"),
            subtitle_csv="transcription_merge.csv",
            subtitle_columns=_ENGCHI,
            model_subtitle="subtitle_zh",  # upstream's MER2024 loader reads the `chinese` column
            label_file="label-6way.npz",
            splits={"train": "train_corpus", "test": "test1_corpus"},
            default_splits=("test",),
            test_count=1169,
            description="MER2024 MER-SEMI test (test1_corpus), 6 emotions; upstream feeds the Chinese subtitle.",
        ),
        ReleaseLayout(
            name="iemocap_four",
            upstream_key="IEMOCAPFour",
            folder="iemocap-process",
            task="emotion",
            video_dir="subvideo-tgt",
            audio_dir="subaudio",
            face_pattern=_FLAT_FACE,
            video_exts=(".avi",),
            subtitle_csv="transcription-engchi-polish.csv",
            subtitle_columns=_ENGCHI,
            model_subtitle="subtitle_en",
            label_file="label_4way.npz",
            splits={"train": "sessions1-4", "test": "session5"},
            default_splits=("test",),
            emotion_names=IEMOCAP_FOUR_EMOTIONS,
            test_count=1241,
            description="IEMOCAP four-class, Session 5 as test (whole_corpus split by the name's 5th character).",
        ),
        ReleaseLayout(
            name="meld",
            upstream_key="MELD",
            folder="meld-process",
            task="emotion",
            video_dir="subvideo",
            audio_dir="subaudio",
            face_pattern=_FLAT_FACE,
            video_exts=(".mp4",),
            subtitle_csv="transcription-engchi-polish.csv",
            subtitle_columns=_ENGCHI,
            model_subtitle="subtitle_en",
            label_file="label.npz",
            splits={"train": "train_corpus", "test": "test_corpus"},
            default_splits=("test",),
            emotion_names=MELD_EMOTIONS,
            test_count=2610,
            description="MELD test, 7 emotions (integer labels mapped to names as upstream's idx2emo).",
        ),
        ReleaseLayout(
            name="cmu_mosi",
            upstream_key="CMUMOSI",
            folder="cmumosi-process",
            task="sentiment",
            video_dir="subvideo",
            audio_dir="subaudio",
            face_pattern=_FLAT_FACE,
            video_exts=(".mp4",),
            subtitle_csv="transcription-engchi-polish.csv",
            subtitle_columns=_ENGCHI,
            model_subtitle="subtitle_en",
            label_file="label.npz",
            splits={"train": "train_corpus", "test": "test_corpus"},
            default_splits=("test",),
            test_count=686,
            description="CMU-MOSI test, valence in [-3, 3].",
        ),
        ReleaseLayout(
            name="cmu_mosei",
            upstream_key="CMUMOSEI",
            folder="cmumosei-process",
            task="sentiment",
            video_dir="subvideo_new",
            audio_dir="subaudio",
            face_pattern=_FLAT_FACE,
            video_exts=(".mp4",),
            subtitle_csv="transcription-engchi-polish.csv",
            subtitle_columns=_ENGCHI,
            model_subtitle="subtitle_en",
            label_file="label.npz",
            splits={"train": "train_corpus", "test": "test_corpus"},
            default_splits=("test",),
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
            face_pattern=_FLAT_FACE,
            video_exts=(".mp4",),
            subtitle_csv="transcription-engchi-polish.csv",
            subtitle_columns=_ENGCHI,
            model_subtitle="subtitle_en",
            label_file="label.npz",
            splits={"train": "train_corpus", "test": "test_corpus"},
            default_splits=("test",),
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
            face_pattern=_FLAT_FACE,
            video_exts=(".mp4",),
            subtitle_csv="transcription-engchi-polish.csv",
            subtitle_columns=_ENGCHI,
            model_subtitle="subtitle_en",
            label_file="label.npz",
            splits={"train": "train_corpus", "test": "test_corpus"},
            default_splits=("test",),
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
