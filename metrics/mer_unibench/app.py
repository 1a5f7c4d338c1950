"""The metric's Space: evaluate's Gradio widget over the script beside this file (on the Space, the repo root)."""

from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load(str(Path(__file__).with_name("mer_unibench.py")), "ovmer")
launch_gradio_widget(module)
