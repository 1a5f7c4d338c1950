"""Programs built on the package: the Gradio demo (the Space) and the quickstart (the main job)."""
