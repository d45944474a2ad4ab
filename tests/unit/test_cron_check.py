"""runner.cron_check answers as croniter does, and needs croniter only off the plain forms."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.cron_check import _RANGES, _plain, valid_cron


def _croniter_says(cron: str) -> bool:
    return len(cron.split()) == 5 and bool(croniter.is_valid(cron))


@pytest.mark.parametrize("field", range(5))
def test_every_single_value_and_step_of_each_field(field: int) -> None:
    low, high = _RANGES[field]
    for text in [*(str(n) for n in range(low - 1, high + 2)), *(f"*/{n}" for n in range(100)),
                 f"{low}-{high}", f"{high}-{low}", f"0{low}", f"{low},{high}"]:  # fmt: skip
        cron = " ".join(text if i == field else "*" for i in range(5))
        assert valid_cron(cron) == _croniter_says(cron), cron


NUMBER = st.integers(0, 99).map(str) | st.sampled_from(["00", "07", "٣", "1a", ""])
PART = st.one_of(
    NUMBER,
    st.builds(lambda a, b: f"{a}-{b}", NUMBER, NUMBER),
    st.builds(lambda n: f"*/{n}", NUMBER),
    st.just("*"),
    st.sampled_from(["?", "L", "MON", "JAN"]),
)
FIELD = st.lists(PART, min_size=1, max_size=3).map(",".join)
SPACE = st.sampled_from([" ", "  ", "\t", "\u00a0"])


@settings(max_examples=400, deadline=None)
@given(fields=st.lists(FIELD, min_size=4, max_size=6), space=SPACE, pad=st.booleans())
def test_plain_expressions_are_what_croniter_accepts(fields: list[str], space: str,
                                                     pad: bool) -> None:  # fmt: skip
    cron = space.join(fields)
    cron = f" {cron} " if pad else cron
    if _plain(cron):
        assert _croniter_says(cron), cron
    assert valid_cron(cron) == _croniter_says(cron), cron


@pytest.mark.parametrize("space", ["\u00a0", "\u2003", "\u3000"])
def test_a_schedule_spaced_with_unicode_spaces_is_croniters_to_judge(space: str) -> None:
    # str.split() splits at these; croniter does not (a hypothesis example found it).
    cron = space.join(["0", "0", "1", "*", "*"])
    assert not _plain(cron)
    assert valid_cron(cron) == _croniter_says(cron)


def test_a_plain_schedule_does_not_import_croniter() -> None:
    probe = (
        "import sys; from runner.cron_check import valid_cron; "
        "print(valid_cron('*/15 * * * *'), valid_cron('30 2 * * 1-5'), 'croniter' in sys.modules,"
        " valid_cron('0 0 * * MON'), 'croniter' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], check=True)  # fmt: skip
    assert done.stdout.split() == ["True", "True", "False", "True", "True"]
