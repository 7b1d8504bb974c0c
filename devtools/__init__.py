"""Developer tools, not used at run time: the speed benchmark (`speed`), the task-generation
benchmark (`task_benchmark`) and the Triton compile check for a GPU without one (`triton_aot`).

    python -m devtools.speed --backends bptt reference
    python -m devtools.task_benchmark
    python -m devtools.triton_aot [--write]
"""
