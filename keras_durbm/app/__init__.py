"""The restoration page: a small web app over the standard library that restores dropped photos in the browser.

`python -m keras_durbm.app --model M` (see `__main__` for the flags and exit codes). The modules:

* `restoration`: what one request does with the model: the same `inference.restore` / `routing.route`
  calls as `python -m keras_durbm.restore --format png`, so the downloaded PNG equals restore's output;
* `jobs`: one worker thread and a queue; a job's state, queue position and tile progress;
* `server`: the HTTP API and the page (`page/`), over `http.server.ThreadingHTTPServer`, in a temporary
  folder of its own that is removed on exit.

Why not Gradio: docs/app.md.
"""
