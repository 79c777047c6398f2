"""Serves a GGUF model with llama.cpp's own HTTP server, as embedded in the
PyPI package `xllamacpp` (prebuilt CPU wheel): OpenAI-compatible
/v1/chat/completions with json_schema response formats and tool calls built
from the model's chat template (--jinja).

usage: python llama-server.py MODEL.gguf PORT

One inference thread: on a small, busy machine one beats two. Runs until
killed; prints "listening" once the model is loaded.
"""
import sys
import time

import xllamacpp

params = xllamacpp.CommonParams()
params.model.path = sys.argv[1]
params.port = int(sys.argv[2])
params.cpuparams.n_threads = 1
params.cpuparams_batch.n_threads = 1
params.n_ctx = 8192
params.n_parallel = 1
params.use_jinja = True
server = xllamacpp.Server(params)
print("listening", flush=True)
while True:
    time.sleep(3600)
