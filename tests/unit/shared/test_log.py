from __future__ import annotations

import io
import logging

from shared.log import Log, MaskingFilter
from shared.runner import run_plugin
from shared.settings import Declaration, Setting


def make_log() -> tuple[Log, io.StringIO]:
    out = io.StringIO()
    return Log(stream=out), out


def test_every_line_kind_is_masked() -> None:
    log, out = make_log()
    log.mask("t0ken-value")
    log.heading("using t0ken-value")
    log.info("a\nt0ken-value")
    log.progress("t0ken-value")
    log.warn("t0ken-value")
    log.error("error: t0ken-value")
    log.table(("k", "v"), [("token", "t0ken-value")])
    text = out.getvalue()
    assert "t0ken-value" not in text and text.count("******") == 6


def test_multiline_secret_masked_line_by_line() -> None:
    log, out = make_log()
    kubeconfig = "apiVersion: v1\nusers:\n- user:\n    token: abcdefghijklmnop\n"
    log.mask(kubeconfig)
    log.info("the server said: token: abcdefghijklmnop")
    assert "abcdefghijklmnop" not in out.getvalue()


def test_longest_secret_masked_first() -> None:
    log, out = make_log()
    log.mask("abc", "abcdef")
    log.info("abcdef")
    assert out.getvalue().strip() == "******"


def test_short_or_empty_values_are_not_masked() -> None:
    log, out = make_log()
    log.mask("", None, "ab")
    log.info("ab cd")
    assert "ab cd" in out.getvalue()


def test_library_logging_is_masked() -> None:
    log, _ = make_log()
    log.mask("tok-12345")
    record = logging.LogRecord(
        "pyhelm3", logging.INFO, __file__, 1, "running helm --kube-token %s", ("tok-12345",), None
    )
    MaskingFilter(log.masker).filter(record)
    assert record.getMessage() == "running helm --kube-token ******"


def test_exception_text_masked_by_runner(monkeypatch, capsys) -> None:
    decl = Declaration("demo", (Setting("token", secret=True),))
    monkeypatch.setenv("PLUGIN_TOKEN", "eyJhbGciOi-secret")

    def fail(values, log):
        from shared.errors import PluginError

        raise PluginError(f"server rejected {values.token}")

    assert run_plugin(decl, fail, argv=[]) == 1
    assert capsys.readouterr().out.strip() == "xx demo: server rejected ******"
