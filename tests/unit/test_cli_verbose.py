"""``run with -v for details`` must give details: ``-v`` prints the traceback and its causes."""

from __future__ import annotations

import pytest

from saasync import cli


def _broken(*_args: object, **_kwargs: object) -> None:
    try:
        {}["state"]
    except KeyError as exc:
        raise RuntimeError("the state file vanished") from exc


def test_unexpected_error_hint_names_the_verbose_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "load_settings", _broken)
    assert cli.main(["sync"]) == 1
    err = capsys.readouterr().err
    assert "unexpected RuntimeError: the state file vanished" in err
    assert "-v" in err and "Traceback" not in err


def test_verbose_unexpected_error_prints_the_traceback_and_its_cause(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "load_settings", _broken)
    assert cli.main(["-v", "sync"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "KeyError: 'state'" in err and "direct cause" in err
    assert "_broken" in err  # the frame that raised
    assert err.rstrip().endswith("error: unexpected RuntimeError: the state file vanished")
    # a later run without -v is not verbose
    assert cli.main(["sync"]) == 1
    assert "Traceback" not in capsys.readouterr().err
