"""Training tasks: name -> builder(seed, **params) -> Task.

    from codesign.training.tasks import make_task
    task = make_task("flipflop", seed=1, k=3, T=100)

Every builder takes n_train, n_val, n_test plus its own parameters (see
docs/tasks.md). make_task checks the name and the parameter names before
calling the builder, which checks values; both raise TaskParamError (a
ValueError) naming the problem.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from .base import Task, TaskParamError, check_int
from .digits import build_digits
from .kws_multi import build_kws_multi
from .kws_synth import build_kws_synth
from .speech import SpeechDataError, SpeechDataNotFoundError, build_speech_commands
from .synthesizers import EspeakError, EspeakNotFoundError, SynthesizerError, SynthesizerNotFoundError
from .synthetic import build_adding, build_cue_recall, build_flipflop

TASKS: dict[str, Callable[..., Task]] = {
    "cue_recall": build_cue_recall,
    "flipflop": build_flipflop,
    "adding": build_adding,
    "digits": build_digits,
    "speech_commands": build_speech_commands,
    "kws_synth": build_kws_synth,
    "kws_multi": build_kws_multi,
}


def task_params(name: str) -> dict[str, Any]:
    """The parameters of task `name` and their defaults (inspect.Parameter.empty if required)."""
    builder = _builder(name)
    return {
        p.name: p.default
        for p in inspect.signature(builder).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def make_task(name: str, seed: int = 0, **params: Any) -> Task:
    builder = _builder(name)
    seed = check_int("seed", seed, 0, 2**32 - 1)  # scikit-learn's limit for random_state
    allowed = task_params(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise TaskParamError(
            f"task {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are: {', '.join(allowed)}"
        )
    return builder(seed, **params)


def _builder(name: str) -> Callable[..., Task]:
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise TaskParamError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


__all__ = [
    "TASKS",
    "Task",
    "TaskParamError",
    "EspeakError",
    "EspeakNotFoundError",
    "SpeechDataError",
    "SpeechDataNotFoundError",
    "SynthesizerError",
    "SynthesizerNotFoundError",
    "make_task",
    "task_params",
]
