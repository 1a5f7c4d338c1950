"""Prompts of the crowdsourcing pipeline (our wording of the paper's App. G description; not upstream bytes)."""

AUDIO_CLUE_PROMPT = (
    "Please act as an expert in the field of emotions. Describe the acoustic clues in this audio that may reveal the "
    "speaker's emotional state, such as tone, pitch, speaking rate, volume and pauses."
)
VISUAL_CLUE_PROMPT = (
    "Please act as an expert in the field of emotions. Describe the visual clues in this video that may reveal the "
    "main character's emotional state, such as facial expressions, gaze, gestures, posture and the scene."
)
MERGE_PROMPT = (
    "Please act as an expert in the field of emotions. We provide acoustic and visual clues that may be related to "
    "the character's emotional state, together with the subtitle of the video. Please analyze which parts of the "
    "clues indicate the character's emotional state and explain why, integrating the textual, audio and visual "
    "clues into one description of the character's emotions.\n"
    "Acoustic clues: {audio_clues}\n"
    "Visual clues: {visual_clues}\n"
    "Subtitle: {subtitle}\n"
    "Description:"
)


def merge_prompt(audio_clues: str, visual_clues: str, subtitle: str) -> str:
    """The merge LLM's input for one clip."""
    return MERGE_PROMPT.format(audio_clues=audio_clues, visual_clues=visual_clues, subtitle=subtitle or "(none)")
