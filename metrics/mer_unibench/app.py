import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("mer_unibench", "ovmer")
launch_gradio_widget(module)
