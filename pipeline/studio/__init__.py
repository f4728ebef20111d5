"""`dreamreel studio`: a live page where a render is tuned while it runs, then exported as a preset.

`session` (the render thread and its recording), `record` (changes as keyframed schedules),
`app` (the Starlette app and its JSON API), `server` (uvicorn), `browser` (headless Chromium
for the tests and the README's screenshot), `static/` (the page, its script, its plotter).
"""

from .server import Studio, background, serve

__all__ = ["Studio", "background", "serve"]
