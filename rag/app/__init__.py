"""The chat page (`page`), how an answer is drawn for people (`render`), and documents added
from the page (`upload`). Gradio is imported only when a page is built."""
